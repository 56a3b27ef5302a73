"""Trunk registration: the box registers with a provider as a client (RFC 3261 §10.2).

One ``TrunkRegistration`` per register-based connection, on the SIP part's transaction layer
and its timers (a fake clock in tests). It sends REGISTER for ``sip:user@domain`` with a
Contact of our address toward the server and a contact user of its own (derived from the
connection, so it is the same after a restart: a new REGISTER replaces the old binding, and
an inbound call's Request-URI names the connection), one Call-ID for its whole life and a
CSeq one higher each time (§10.2.4). Digest challenges (MD5 or SHA-256, as the server offers)
are answered by ``ClientRequest``. The expiry granted is read from the 200
(``granted_expires``) and the binding refreshed before it runs out (``refresh_delay``).

The connection's servers may be names (``sip/locate.py``, RFC 3263): the registration
sends to their addresses as ``use`` last gave them (the trunk manager keeps them fresh from
DNS; a target of IP literals has its addresses from the start), and reports a failed round
(``on_round_failed``) so that the names are looked up again. With no address yet and a
reason (the name does not resolve) a round fails with that reason as the last answer.

A failure (no answer, a 3xx-6xx, a 2xx that keeps no binding of ours) moves on to the next
address at once; once every address has failed in a round it backs off (``backoff_delay``:
5 s doubling to 5 min, jitter from an injected random, a Retry-After honoured) and starts
the next round at the first address. A 423 is tried again at once with its Min-Expires.
Registered on another address than the first for ``failback_after`` s, a refresh tries the
first again (and goes back to the one that works if it fails). Over TLS, the stream is
opened first (``secure``: the provider's certificate checked) and a REGISTER is sent only
once it is; a failed check is the round's answer ("certificate not trusted: ..."). ``stop``
un-registers (Expires: 0). The password is never logged, shown, or kept in a repr.
"""

from __future__ import annotations

import functools
import logging
import random as random_mod
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from appliance.calls.registration_rules import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    EXPIRES_RANGE,
    JITTER,
    MIN_REFRESH,
    REFRESH_MARGIN,
    RegistrationStatus,
    Secure,
    Server,
    TrunkTarget,
    backoff_delay,
    contact_user,
    granted_expires,
    refresh_delay,
    same_contact,
    seconds_header,
)
from appliance.sip.dialog import Dialog
from appliance.sip.locate import Address
from appliance.sip.message import Response, SipUri, make_request
from appliance.sip.transaction import Peer, TimerHandle, TransactionLayer
from appliance.sip.ua import ClientRequest, Credentials, new_branch
from appliance.sip.uri import format_host

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "EXPIRES_RANGE", "JITTER", "MIN_REFRESH",
           "REFRESH_MARGIN", "RegistrationStatus", "Secure", "Server", "SipPart",
           "TrunkRegistration", "TrunkTarget", "backoff_delay", "contact_user",
           "granted_expires", "refresh_delay", "register_trunk", "same_contact"]

log = logging.getLogger(__name__)

FAILBACK_AFTER = 600.0
USER_AGENT = "appliance"

SentBy = Callable[[str, str], tuple[str, int]]


class SipPart(Protocol):
    """What a registration needs of the SIP part (``routing/service.py``)."""

    layer: TransactionLayer

    def sent_by(self, transport: str, toward: str) -> tuple[str, int]:
        """Our address on ``transport`` as ``toward`` sees it."""
        ...

    def start_registration(self, registration: TrunkRegistration) -> None:
        """Start ``registration`` and un-register it when the SIP part stops."""
        ...


class _Attempt:
    """One REGISTER (and its digest retries) sent for a registration: a ``ClientRequest``
    outcome that reports back to its owner."""

    def __init__(self, owner: TrunkRegistration, server: Address, expires: int, contact: SipUri,
                 probe: bool) -> None:
        self.owner = owner
        self.server = server
        self.expires = expires
        self.contact = contact
        self.probe = probe  # trying the first server again while registered on another
        self.client: ClientRequest | None = None

    @property
    def unregister(self) -> bool:
        return self.expires == 0

    def on_provisional(self, response: Response) -> None:
        return None

    def on_final(self, response: Response, dialog: Dialog | None) -> None:
        self.owner._answered(self, response)

    def on_timeout(self) -> None:
        self.owner._answered(self, None)


class TrunkRegistration:
    """The registration of one connection; see the module docstring. ``start`` once, then
    ``stop``; ``status`` at any time. Runs on ``layer``'s timers (the event loop's thread)."""

    def __init__(self, layer: TransactionLayer, target: TrunkTarget, sent_by: SentBy, *,
                 clock: Callable[[], float] = time.time,
                 random: Callable[[], float] = random_mod.random,
                 failback_after: float = FAILBACK_AFTER,
                 on_change: Callable[[RegistrationStatus], None] | None = None,
                 secure: Secure | None = None,
                 on_round_failed: Callable[[], None] | None = None) -> None:
        """``sent_by(transport, host)`` gives our address toward a server, ``clock`` the
        times in ``status``, ``random`` the backoff's jitter (0..1); ``secure(address,
        done)`` opens a checked TLS stream and calls ``done(None)``, or ``done(why)``."""
        self.layer = layer
        self.target = target
        self.failback_after = failback_after
        self.on_change = on_change
        self.on_round_failed = on_round_failed
        self._secure = secure
        self._addresses: tuple[Address, ...] = target.literal_addresses or ()
        self._unresolved: str | None = None  # why there is no address (None: not known yet)
        self.contact_user = contact_user(target)
        self.call_id = secrets.token_hex(16)
        self._sent_by = sent_by
        self._clock = clock
        self._random = random
        self._credentials = Credentials(target.auth_username or target.username,
                                        target.password)
        self._tag = secrets.token_hex(8)
        self._cseq = 0
        self._requested = target.expires
        self._last: Address | None = None  # the address of the latest attempt
        self._bound: Address | None = None  # the address that granted the latest binding
        self._tried: set[Address] = set()  # addresses failed in this round
        self._waiting = False  # a round waits for addresses
        self._failures = 0  # failed rounds in a row
        self._on_other = 0.0  # seconds registered on a server other than the first
        self._current: _Attempt | None = None
        self._timer: TimerHandle | None = None
        self._started = False
        self._stopping = False
        self._then: list[Callable[[], None]] = []
        self._state = "stopped"
        self._answer: str | None = None
        self._since = clock()
        self._expires_at: float | None = None
        self._next_at: float | None = None

    def __repr__(self) -> str:
        return f"<TrunkRegistration {self.target.name!r} {self._state}>"

    @property
    def status(self) -> RegistrationStatus:
        """The current status (no secret in it)."""
        server = None
        if self._started:
            server = self._bound if self._state == "registered" and self._bound is not None \
                else self._last or (self._addresses[0] if self._addresses else None)
        return RegistrationStatus(self.target.name, self._state, server, self._answer,
                                  self._since, self._expires_at, self._next_at)

    @property
    def addresses(self) -> tuple[Address, ...]:
        """The addresses registrations go to now, in order."""
        return self._addresses

    def start(self) -> TrunkRegistration:
        """Send the first REGISTER to the first address; returns self. Only once."""
        if not self._started and not self._stopping:
            self._started = True
            self._set_state("registering")
            self._round()
        return self

    def use(self, addresses: Sequence[Address], why: str | None = None) -> None:
        """The servers' addresses as found now (``why`` there are none, when known). A round
        waiting for addresses starts; a binding at an address no longer listed is renewed at
        the first at its next refresh."""
        first_reason = why is not None and self._unresolved is None
        self._addresses = tuple(addresses)
        self._unresolved = None if addresses else why
        self._tried &= set(self._addresses)
        if self._waiting and not self._stopping and self._current is None and \
                (self._addresses or first_reason):
            self._cancel_timer()
            self._round()

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Stop refreshing and un-register (Expires: 0) where a binding may still live, then
        call ``then``. A REGISTER in flight is let finish first, so CSeqs stay in order."""
        if then is not None:
            self._then.append(then)
        if self._stopping or not self._started:
            if not self._started:
                self._stopping = True
                self._finish()
            return
        self._stopping = True
        self._cancel_timer()
        self._next_at = None
        if self._current is None:
            self._unregister()

    # -- sending ------------------------------------------------------------------------------

    def _round(self) -> None:
        """Start a round at the first address; with none, wait for ``use`` (or fail with
        why there is none)."""
        self._timer = None
        self._next_at = None
        self._waiting = False
        if self._addresses:
            self._send(self._addresses[0])
            return
        if self._unresolved is None:
            self._waiting = True
            self._notify()
            return
        self._answer = self._unresolved
        self._last = None
        self._waiting = True  # an address found ends the backoff at once
        self._round_failed(self._unresolved, None)

    def _send(self, server: Address, *, probe: bool = False, expires: int | None = None) -> None:
        """REGISTER at ``server`` (``expires`` 0: un-register)."""
        self._timer = None
        self._next_at = None
        host, port = self._sent_by(server.transport, server.host)
        params: dict[str, str | None] = \
            {} if server.transport == "udp" else {"transport": server.transport}
        contact = SipUri("sip", self.contact_user, None, host, port, params)
        aor = SipUri("sip", self.target.username, None, self.target.domain)
        wanted = self._requested if expires is None else expires
        self._cseq += 1
        request = make_request(
            "REGISTER", SipUri("sip", host=self.target.domain),
            via=f"SIP/2.0/{server.transport.upper()} {format_host(host)}:{port}"
                f";branch={new_branch()};rport",
            from_=f"<{aor}>;tag={self._tag}", to=f"<{aor}>", call_id=self.call_id,
            cseq=self._cseq, contact=f"<{contact}>",
            headers=[("Expires", str(wanted)), ("User-Agent", USER_AGENT)])
        attempt = _Attempt(self, server, wanted, contact, probe)
        self._last = server
        self._current = attempt
        peer = Peer(server.transport, server.host, server.port)
        attempt.client = ClientRequest(self.layer, request, peer, attempt,
                                       credentials=self._credentials)
        if server.transport != "tls":
            attempt.client.start()
        elif self._secure is None:
            self._answered(attempt, None, "TLS is not set up")
        else:
            self._secure(server, functools.partial(self._secured, attempt))

    def _secured(self, attempt: _Attempt, why: str | None) -> None:
        """The checked TLS stream for ``attempt`` is open (``why`` None), or is not."""
        if attempt is not self._current or attempt.client is None:
            return
        if why is None:
            attempt.client.start()
        else:
            self._answered(attempt, None, why)

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._next_at = self._clock() + delay if delay > 0 else None
        self._timer = self.layer.timers.call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- answers ------------------------------------------------------------------------------

    def _answered(self, attempt: _Attempt, response: Response | None,
                  why: str | None = None) -> None:
        """The final answer to ``attempt`` (None: no answer in time, or ``why`` it was not
        sent)."""
        if attempt is not self._current:
            return
        self._current = None
        if attempt.client is not None:  # the digest retries used CSeqs too
            self._cseq = max(self._cseq, attempt.client.request.cseq.seq)
        answer = (why or "timeout") if response is None \
            else f"{response.status} {response.reason}"
        granted = 0
        if response is not None and response.status < 300 and not attempt.unregister:
            granted = granted_expires(response, attempt.contact, attempt.expires)
            if granted <= 0:
                answer += " (no binding kept)"
        if attempt.unregister:
            if response is not None and response.status < 300:
                self._expires_at = None
            self._bound = None
            self._answer = answer
            self._finish()
            return
        if granted > 0:
            self._registered(attempt, granted, answer)
        if self._stopping:
            self._unregister()
            return
        if granted > 0:
            return
        if response is not None and response.status == 423:
            wanted = seconds_header(response, "min-expires")
            if wanted is not None and attempt.expires < wanted <= EXPIRES_RANGE[1]:
                self._requested = wanted
                self._answer = answer
                log.info("trunk %s: %s asks for at least %d s", self.target.name,
                         attempt.server, wanted)
                self._later(0, lambda: self._send(attempt.server, probe=attempt.probe))
                return
        retry_after = None if response is None else seconds_header(response, "retry-after")
        self._failed(attempt, answer, retry_after)

    def _registered(self, attempt: _Attempt, granted: int, answer: str) -> None:
        moved = self._bound != attempt.server
        first = bool(self._addresses) and attempt.server == self._addresses[0]
        if moved or first:
            self._on_other = 0.0
        self._bound = attempt.server
        self._failures = 0
        self._tried.clear()
        self._answer = answer
        self._expires_at = self._clock() + granted
        if self._stopping:
            return
        delay = refresh_delay(granted)
        if not first:
            self._on_other += delay
        if self._state != "registered" or moved:
            log.info("trunk %s: registered at %s for %d s", self.target.name,
                     attempt.server, granted)
        self._later(delay, self._refresh)
        self._set_state("registered")

    def _refresh(self) -> None:
        bound = self._bound
        if bound is None or bound not in self._addresses:
            self._round()  # DNS moved the servers: register where they are now
        elif bound != self._addresses[0] and self._on_other >= self.failback_after:
            self._on_other = 0.0
            self._send(self._addresses[0], probe=True)
        else:
            self._send(bound)

    def _failed(self, attempt: _Attempt, answer: str, retry_after: int | None) -> None:
        self._answer = answer
        server = attempt.server
        bound = self._bound
        if attempt.probe and bound is not None:
            log.info("trunk %s: %s still fails (%s); staying on %s", self.target.name,
                     server, answer, bound)
            self._later(0, lambda: self._send(bound))
            self._notify()
            return
        if self._state != "failing":
            log.warning("trunk %s: registration at %s failed: %s", self.target.name,
                        server, answer)
        self._tried.add(server)
        order = self._addresses
        start = order.index(server) + 1 if server in order else 0
        for step in range(len(order)):
            candidate = order[(start + step) % len(order)]
            if candidate not in self._tried:
                self._later(0, functools.partial(self._send, candidate))
                self._set_state("failing")
                return
        self._round_failed(answer, retry_after)

    def _round_failed(self, answer: str, retry_after: int | None) -> None:
        """Every address failed (or there is none): back off, and have names looked up."""
        self._tried.clear()
        self._failures += 1
        delay = backoff_delay(self._failures, self._random(), retry_after)
        log.info("trunk %s: every server failed (%s); next round in %.0f s",
                 self.target.name, answer, delay)
        self._later(delay, self._round)
        self._set_state("failing")
        if self.on_round_failed is not None:
            self.on_round_failed()

    def _unregister(self) -> None:
        """Send Expires: 0 where the latest binding may still live, else finish."""
        live = (self._bound is not None and self._expires_at is not None
                and self._expires_at > self._clock())
        if live and self._bound is not None:
            self._waiting = False
            self._send(self._bound, expires=0)
        else:
            self._finish()

    def _finish(self) -> None:
        self._cancel_timer()
        self._next_at = None
        if self._state != "stopped":
            log.info("trunk %s: stopped (%s)", self.target.name, self._answer or "not sent")
        self._set_state("stopped")
        callbacks, self._then = self._then, []
        for callback in callbacks:
            callback()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._since = self._clock()
        self._notify()

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.status)


def register_trunk(sip: SipPart, target: TrunkTarget, *,
                   on_change: Callable[[RegistrationStatus], None] | None = None
                   ) -> TrunkRegistration:
    """A registration of ``target`` from the SIP part's sockets, started (on the loop)."""
    registration = TrunkRegistration(sip.layer, target, sip.sent_by, on_change=on_change)
    sip.start_registration(registration)
    return registration
