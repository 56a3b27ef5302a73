"""Supervisor listen-in: an extension's supervisor dials ``*33`` and the extension
(``*33102``) and hears that extension's call in progress, both parties mixed, without being
heard.

Who may: only the extension named as the supervised extension's supervisor (``may_listen``,
pure); anyone else gets ``403``. What can be listened to: a call of that extension the box
carries with its media anchored (calls across a connection, and calls the B2BUA carries
between extensions); a call the proxy carries end to end has no media in the box: ``404``,
as when there is no call. Each listen-in is audited (``supervisor.listened``) before the
supervisor's phone is answered; one that cannot be audited is refused.

The media: rtpengine forks both parties to the daemon (``subscribe request``), which mixes
them for the supervisor's phone (``media.listen``; rtpengine 10.5 cannot mix, so whispering
to the employee or barging in, which need mixing inside the media plane, are not offered).
The listen-in ends when either call ends; the supervisor's phone gets a BYE.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from appliance.calls.anchor import has_sdp
from appliance.calls.greeting import answer_here
from appliance.directory import Extension
from appliance.errors import MediaError
from appliance.media.listen import Listening
from appliance.sip.transaction import ServerTransaction

if TYPE_CHECKING:
    from appliance.calls.b2bua import B2BUA
    from appliance.calls.call import OutsideCall

log = logging.getLogger(__name__)

PREFIX = "*33"
MAX_LISTENING = 4  # listen-ins at once: each is a mixer on the daemon's loop

# Audit a listen-in (supervisor's extension, the supervised one); raises when not stored.
Audit = Callable[[str, str], Awaitable[None]]


def may_listen(supervisor: Extension, supervised: Extension | None) -> str | None:
    """None when ``supervisor`` may listen in on ``supervised``, else why not."""
    if supervisor.employee_id is None:
        return "Not Assigned"
    if supervised is None or supervised.employee_id is None:
        return "No Such Extension"
    if supervised.supervisor != supervisor.number or supervised.number == supervisor.number:
        return "Not Your Extension"
    return None


def target_of(dialled: str) -> str | None:
    """The extension in ``*33<extension>``, or None."""
    rest = dialled[len(PREFIX):] if dialled.startswith(PREFIX) else ""
    return rest if rest.isdigit() and 1 <= len(rest) <= 4 else None


def live_call_of(b2bua: B2BUA, extension: str) -> OutsideCall | None:
    """The established, anchored call ``extension`` is on, if the B2BUA carries one."""
    from appliance.calls.call import OutsideCall
    for call in b2bua.live:
        if isinstance(call, OutsideCall) and call.state == "established" and \
                call.anchor is not None and call.listening is None and extension in (
                    call.caller.extension, call.callee.extension if call.callee else None):
            return call
    return None


def listen(b2bua: B2BUA, txn: ServerTransaction, caller: Extension, target: str) -> None:
    """``caller`` dialled ``*33`` + ``target``: refused, or the box answers and listens."""
    why = may_listen(caller, b2bua.extensions.get(target))
    if why is not None:
        log.info("sip: extension %s may not listen in on %s: %s", caller.number, target, why)
        b2bua.refuse(txn, 403, why)
        return
    watched = live_call_of(b2bua, target)
    if watched is None or watched.anchor is None:
        b2bua.refuse(txn, 404, "No Call To Listen To")
        return
    if b2bua.media is None or b2bua.listen_address is None or b2bua.audit is None:
        b2bua.refuse(txn, 503, "Listen-In Unavailable")
        return
    if not has_sdp(txn.request):
        b2bua.refuse(txn, 488, "Offer Required")
        return
    if sum(1 for c in b2bua.live if getattr(c, "listening", None) is not None) \
            >= MAX_LISTENING:
        b2bua.refuse(txn, 486, "Too Many Listen-Ins")
        return
    call = b2bua.start_call(txn, caller.number, f"{PREFIX}{target}")
    call.anchor = None  # the supervisor's leg is the daemon's mixer, not rtpengine's
    b2bua.spawn(_start(b2bua, call, watched, caller.number, target))


async def _start(b2bua: B2BUA, call: OutsideCall, watched: OutsideCall, supervisor: str,
                 target: str) -> None:
    media, anchor, audit, address = b2bua.media, watched.anchor, b2bua.audit, \
        b2bua.listen_address
    assert media is not None and anchor is not None and audit is not None and address
    parties = [anchor.label(leg) for leg in (watched.caller, watched.callee) if leg is not None]
    listening = Listening(address)
    try:
        await audit(supervisor, target)
    except Exception:
        log.exception("supervisor listen-in of %s by %s not audited: refused", target,
                      supervisor)
        call.abort(500, "Not Audited", "", "failed")
        return
    try:
        to_tag, offer = await media.subscribe(anchor.id, parties)
        answers = await listening.open(offer, call.server.request.body.decode(
            "utf-8", "replace"))
        await media.subscribe_answer(anchor.id, to_tag, answers.to_plane)
    except MediaError as exc:
        log.warning("media: listen-in on call %s failed: %s", anchor.id, exc)
        listening.close()
        call.abort(503, "Listen-In Unavailable", "", "failed")
        return
    if call.state != "ringing" or watched.state != "established":
        listening.close()
        await media.unsubscribe(anchor.id, to_tag)
        call.abort(487, None, "", "cancelled")
        return
    call.listening = listening

    async def stop() -> None:
        listening.close()
        await media.unsubscribe(anchor.id, to_tag)
    call.on_end = stop
    watched.listeners.append(call)
    if answer_here(call, answers.to_phone.encode()):
        if call.record is not None:  # the supervisor's call is answered: it is listening
            call.record.answered_at = b2bua.registry.clock()
            call.record.callee_extension = target
            b2bua.registry.notify(call.record)
        log.info("sip: extension %s listens in on %s's call %s", supervisor, target, anchor.id)


def watched_ended(call: OutsideCall) -> None:
    """``call`` ended: every listen-in on it ends (BYE to the supervisor's phone)."""
    for listener in call.listeners:
        listener.abort(480, None, 'SIP;cause=200;text="Call ended"', "bye-listen")
    call.listeners.clear()
