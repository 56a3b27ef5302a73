"""The registrar (RFC 3261 §10.3): bindings of extensions to contacts, with expiry.

Pure logic over an in-memory table: ``register`` turns an authenticated REGISTER into a
response plus the changes to persist; the SIP service writes those changes to the store
(``routing/bindings.py``) before it answers, and loads them back at start. The clock is
injected (wall-clock seconds, since expiry times are persisted).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from appliance.config import SipConfig
from appliance.errors import SipParseError
from appliance.sip.message import Request, Response, make_response
from appliance.sip.transaction import Peer
from appliance.sip.uri import format_params
from appliance.sip.values import NameAddr

MAX_CONTACTS = 10  # per extension: a desk phone, a softphone or two, and room to spare
DESK_AGENTS = ("yealink", "polycom", "poly ", "cisco", "grandstream", "snom", "fanvil",
               "gigaset", "panasonic", "avaya", "htek", "alcatel")


def fingerprint(key: bytes, password: str) -> str:
    """A short keyed fingerprint of a password: tells which password a binding registered
    with, and cannot be turned back into it (the key never leaves the box's store)."""
    return hmac.new(key, password.encode(), hashlib.sha256).hexdigest()[:12]


def from_phone(binding: Binding, host: str | None, mac: str) -> bool:
    """Whether ``binding`` came from the phone with ``mac`` (12 hex digits) at ``host``: as
    the desk-phone rule sees it (its source address), or by the MAC its User-Agent names."""
    if host is not None and binding.source.host == host:
        return True
    agent = binding.user_agent.lower().replace(":", "").replace("-", "")
    return len(mac) == 12 and mac.lower() in agent


def kind_of(user_agent: str) -> str:
    """ "desk" for the User-Agent of a known desk-phone vendor, else "app"."""
    agent = user_agent.lower()
    return "desk" if any(name in agent for name in DESK_AGENTS) else "app"


@dataclass(frozen=True)
class Binding:
    """One contact of an extension, and the flow (source address) it registered from."""

    aor: str
    contact: str  # the contact URI, as text
    params: str  # its header parameters (q, +sip.instance, reg-id...), without expires
    expires_at: float
    call_id: str
    cseq: int
    source: Peer
    user_agent: str
    kind: str
    registered_at: float
    credential: str = ""  # fingerprint of the password it registered with (never the password)

    def remaining(self, now: float) -> int:
        """Seconds left, at least 0."""
        return max(0, int(self.expires_at - now))


@dataclass(frozen=True)
class Change:
    """A binding to write (``binding``) or to delete (``binding`` with ``delete``)."""

    binding: Binding
    delete: bool = False


class Registrar:
    """Bindings per extension number, with RFC 3261 §10.3 rules and configured bounds."""

    def __init__(self, cfg: SipConfig, clock: Callable[[], float] = time.time) -> None:
        """Expiry bounds from ``cfg``."""
        self.cfg = cfg
        self.clock = clock
        self.table: dict[str, dict[str, Binding]] = {}
        # Addresses of the desk phones the appliance provisioned: a binding from one of them
        # is a desk phone whatever its User-Agent (the SIP part keeps this set fresh).
        self.desk_hosts: frozenset[str] = frozenset()

    def load(self, bindings: list[Binding]) -> None:
        """Restore persisted bindings (the expired ones are skipped)."""
        now = self.clock()
        for binding in bindings:
            if binding.expires_at > now:
                self.table.setdefault(binding.aor, {})[binding.contact] = binding

    def lookup(self, aor: str) -> list[Binding]:
        """The live bindings of an extension, newest first."""
        now = self.clock()
        live = [b for b in self.table.get(aor, {}).values() if b.expires_at > now]
        return sorted(live, key=lambda b: -b.registered_at)

    def all(self) -> list[Binding]:
        """Every live binding."""
        now = self.clock()
        return [b for c in self.table.values() for b in c.values() if b.expires_at > now]

    def find_contact(self, contact: str) -> Binding | None:
        """The live binding whose contact URI is ``contact`` (to reach it over its flow)."""
        now = self.clock()
        for contacts in self.table.values():
            binding = contacts.get(contact)
            if binding is not None and binding.expires_at > now:
                return binding
        return None

    def has_flow(self, peer: Peer) -> bool:
        """Whether a live binding uses ``peer`` (a stream to keep open)."""
        return any(b.source == peer for b in self.all())

    def drop(self, aor: str) -> list[Change]:
        """Remove every binding of an extension (dismissed, freed, disabled)."""
        removed = self.table.pop(aor, {})
        return [Change(b, delete=True) for b in removed.values()]

    def drop_where(self, doomed: Callable[[Binding], bool],
                   aor: str | None = None) -> list[Change]:
        """Remove the bindings (of ``aor``, or of every extension) for which ``doomed`` holds:
        those of a disabled phone, those registered with a retired password."""
        gone = []
        for number in [aor] if aor is not None else list(self.table):
            contacts = self.table.get(number, {})
            for contact, binding in list(contacts.items()):
                if doomed(binding):
                    del contacts[contact]
                    gone.append(Change(binding, delete=True))
            if not contacts:
                self.table.pop(number, None)
        return gone

    def revert(self, aor: str, before: dict[str, Binding], changes: list[Change]) -> None:
        """Undo ``changes`` to ``aor`` (its contacts were ``before``) where nothing changed
        them since: for a write the store refused, or a REGISTER refused after the fact."""
        contacts = self.table.setdefault(aor, {})
        for change in changes:
            contact = change.binding.contact
            if contacts.get(contact) is not (None if change.delete else change.binding):
                continue
            old = before.get(contact)
            if old is None:
                contacts.pop(contact, None)
            else:
                contacts[contact] = old
        if not contacts:
            del self.table[aor]

    def expire(self) -> list[Change]:
        """Remove expired bindings; return the deletions."""
        now, gone = self.clock(), []
        for aor in list(self.table):
            for contact, binding in list(self.table[aor].items()):
                if binding.expires_at <= now:
                    del self.table[aor][contact]
                    gone.append(Change(binding, delete=True))
            if not self.table[aor]:
                del self.table[aor]
        return gone

    def _expires(self, param: int | None, header: int | None) -> int:
        value = param if param is not None else header
        return self.cfg.default_expires if value is None else value

    def register(self, request: Request, aor: str, peer: Peer, to_tag: str | None = None,
                 credential: str = "") -> tuple[Response, list[Change]]:
        """Apply an authenticated REGISTER for ``aor`` (authenticated with the password whose
        fingerprint is ``credential``); return the answer (To tagged with ``to_tag``) and the
        changes."""
        try:
            contacts = request.contacts
            header_expires = request.expires
            call_id, cseq = request.call_id, request.cseq.seq
        except SipParseError:
            return make_response(request, 400, to_tag=to_tag), []
        current = self.table.get(aor, {})
        if request.contact_wildcard:
            # §10.3 step 6: "*" only with Expires: 0, and it removes every binding.
            if header_expires != 0:
                return make_response(request, 400, "Contact * needs Expires: 0",
                                     to_tag=to_tag), []
            changes = self._guarded_removals(current.values(), call_id, cseq)
            if changes is not None:
                self.table.pop(aor, None)
        else:
            plans = self._plans(contacts, header_expires)
            if isinstance(plans, int):
                return make_response(request, 423, to_tag=to_tag,
                                     headers=[("Min-Expires", str(plans))]), []
            agent = (request.headers.get("user-agent") or "")[:200]
            changes = self._apply(aor, plans, (call_id, cseq), peer, agent, credential)
        if changes is None:
            return make_response(request, 500, "Out Of Order Request", to_tag=to_tag), []
        return self._ok(request, aor, self.clock(), to_tag), changes

    def _apply(self, aor: str, plans: list[tuple[str, str, int]], order: tuple[str, int],
               peer: Peer, agent: str, credential: str = "") -> list[Change] | None:
        """Add, refresh or remove each planned contact; None if the request is out of order."""
        now, (call_id, cseq) = self.clock(), order
        table = dict(self.table.get(aor, {}))
        changes: list[Change] = []
        for uri, params, expires in plans:
            old = table.get(uri)
            if old is not None and old.call_id == call_id and old.cseq >= cseq:
                return None  # §10.3 step 7: a stale or repeated REGISTER
            if expires == 0:
                if old is not None:
                    del table[uri]
                    changes.append(Change(old, delete=True))
                continue
            kind = "desk" if peer.host in self.desk_hosts else kind_of(agent)
            table[uri] = Binding(aor, uri, params, now + expires, call_id, cseq, peer, agent,
                                 kind, now, credential)
            changes.append(Change(table[uri]))
        while len(table) > MAX_CONTACTS:
            oldest = min(table.values(), key=lambda b: b.registered_at)
            del table[oldest.contact]
            changes.append(Change(oldest, delete=True))
        if table:
            self.table[aor] = table
        else:
            self.table.pop(aor, None)
        return changes

    def _plans(self, contacts: list[NameAddr], header_expires: int | None) -> list[
            tuple[str, str, int]] | int:
        """(URI, parameters, granted expiry) per contact; the minimum if one is too brief."""
        plans = []
        for contact in contacts:
            expires = self._expires(contact.expires, header_expires)
            if 0 < expires < self.cfg.min_expires:
                return self.cfg.min_expires  # §10.3 step 7: 423 Interval Too Brief
            kept = {k: v for k, v in contact.params.items() if k != "expires"}
            plans.append((str(contact.uri), format_params(kept),
                          min(expires, self.cfg.max_expires)))
        return plans

    @staticmethod
    def _guarded_removals(bindings: Iterable[Binding], call_id: str,
                          cseq: int) -> list[Change] | None:
        changes = []
        for binding in bindings:
            if binding.call_id == call_id and binding.cseq >= cseq:
                return None
            changes.append(Change(binding, delete=True))
        return changes

    def _ok(self, request: Request, aor: str, now: float, to_tag: str | None) -> Response:
        headers = [("Contact", f"<{b.contact}>{b.params};expires={b.remaining(now)}")
                   for b in self.lookup(aor)]
        return make_response(request, 200, to_tag=to_tag, headers=headers)
