"""Directory changes reaching the SIP part: what they invalidate is dropped and hung up.

The SIP service hands each ``extension.*``, ``employee.*`` and ``phone.disabled`` event
here (from the outbox tail, so a change made by the CLI arrives within the poll interval):

- an extension out of service (dismissal, unassignment, deletion): its bindings dropped,
  its calls ended (ringing ones CANCELed toward the callee and answered to the caller,
  established ones with a BYE to each end);
- a phone disabled: the bindings from that phone (its address, as the desk-phone rule sees
  it, or the MAC in its User-Agent) dropped, and the calls on it ended;
- a new password: the bindings registered with the old one dropped (the phone registers
  again once its check-sync has brought the new one).

Each drop and each hang-up is audited (actor "sip").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from appliance.events import Event
from appliance.routing import bindings
from appliance.routing.callcontrol import CallControl
from appliance.routing.calls import Call
from appliance.routing.extensions import ExtensionCache
from appliance.routing.registrar import Change, Registrar, fingerprint, from_phone
from appliance.store import Store
from appliance.workers import Workers

log = logging.getLogger(__name__)

Persist = Callable[[list[Change], Callable[[bool], None]], None]
OUT_OF_SERVICE = 'SIP;cause=410;text="Extension out of service"'
PHONE_DISABLED = 'SIP;cause=480;text="Phone disabled"'


class DirectoryChanges:
    """Applies directory events to the registrar and the calls."""

    def __init__(self, *, store: Store, cache: ExtensionCache, registrar: Registrar,
                 control: CallControl, persist: Persist, key: Callable[[], bytes],
                 workers: Workers) -> None:
        """Write through ``persist``; ``key`` is the box's secret (password fingerprints);
        store reads and writes run on ``workers``."""
        self.store = store
        self.cache = cache
        self.registrar = registrar
        self.control = control
        self.persist = persist
        self.key = key
        self.workers = workers

    async def on_event(self, event: Event) -> None:
        """Handle one event; unrelated kinds only refresh the extension they name."""
        payload = event.payload
        if event.kind == "phone.disabled":
            await self._phone_disabled(payload)
            return
        number = payload.get("number") or (payload.get("extension") if event.kind.startswith(
            "employee.") else payload.get("target"))
        if not isinstance(number, str) or not number.isdigit():
            return
        ext = await self.workers.run(self.cache.refresh, number)
        if ext is None or ext.employee_id is None:
            calls = self.control.hang_up(self.control.registry.involving(number), 410,
                                         OUT_OF_SERVICE)
            await self._drop(self.registrar.drop(number), number, "out of service", calls)
        elif event.kind == "extension.password_changed":
            current = fingerprint(self.key(), ext.sip_password)
            dropped = self.registrar.drop_where(lambda b: b.credential != current, number)
            await self._drop(dropped, number, "password changed", [])

    async def _phone_disabled(self, payload: dict[str, Any]) -> None:
        mac, number = payload.get("mac"), payload.get("previous_extension")
        if not isinstance(mac, str):
            return
        host = await self.workers.run(bindings.phone_ip, self.store, mac)
        calls: list[Call] = []
        if isinstance(number, str):
            if host is not None:
                calls = self.control.hang_up(self.control.registry.involving(number, host),
                                             480, PHONE_DISABLED, host)
            dropped = self.registrar.drop_where(lambda b: from_phone(b, host, mac), number)
        else:  # a phone without an extension: only a binding naming its MAC is its own
            dropped = self.registrar.drop_where(lambda b: from_phone(b, None, mac))
        await self._drop(dropped, number if isinstance(number, str) else mac,
                         "phone disabled", calls)

    async def _drop(self, dropped: list[Change], target: str, reason: str,
                    calls: list[Call]) -> None:
        """Persist the dropped bindings, then audit them and the calls ended."""
        if dropped:
            log.info("sip: %s %s, %d bindings dropped", target, reason, len(dropped))
            done = asyncio.get_running_loop().create_future()
            self.persist(dropped, lambda _ok: done.set_result(None))
            await done
        for call in calls:
            log.info("sip: call %s between %s and %s ended (%s)", call.call_id[:32],
                     call.caller.extension, call.callee_extension, reason)
        entries = [("sip.bindings_dropped", target, {
            "extension": dropped[0].binding.aor, "reason": reason, "count": len(dropped),
            "contacts": [c.binding.contact for c in dropped][:10]})] if dropped else []
        entries += [("sip.call_ended", call.callee_extension, {
            "call_id": call.call_id[:128], "caller": call.caller.extension,
            "callee": call.callee_extension, "reason": reason,
            "answered": call.answered_at is not None}) for call in calls]
        for action, where, detail in entries:
            try:
                await self.workers.run(bindings.audit, self.store, action, where, detail)
            except Exception:
                log.exception("sip: auditing %s failed", action)
