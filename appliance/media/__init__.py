"""The media plane: rtpengine run as a part of the box and spoken to over its ng protocol.

Knows SDP bodies, not SIP dialogs: ``bencode`` and ``ng`` are the protocol, ``codecs`` the
codec policy, ``plane`` the typed interface the call logic uses, ``rtpengine`` runs and
supervises the daemon, ``service`` wires it into ``appliance run``.
"""
