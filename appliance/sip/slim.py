"""``slim_request``: what a finished transaction, or a TU reading it then, keeps of a request."""

from __future__ import annotations

from appliance.sip.message import Request

# Matching, an ACK or CANCEL, a target refresh: what is still read of a finished request.
KEPT = ("via", "from", "to", "call-id", "cseq", "route", "record-route", "contact",
        "max-forwards")


def slim_request(request: Request) -> Request:
    """A copy with only the headers in ``KEPT`` and no body: a message kept up to 32 s by
    a finished transaction costs a fraction of the parsed whole (a call's INVITEs, SDP and
    all, would otherwise hold most of the daemon's memory)."""
    kept = Request(request.method, request.uri)
    for name in KEPT:
        kept.headers.copy_from(request.headers, name)
    return kept
