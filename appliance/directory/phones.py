"""The phone inventory: sightings merge into one phone per MAC; assign and disable; each
phone's own secrets (admin password, HTTP provisioning credentials, enrollment URL)."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from appliance.directory import rules
from appliance.directory.core import DirectoryBase, forget_uploads, sha256_hex
from appliance.directory.records import AuditEntry, Phone, Sighting
from appliance.errors import ConflictError, NotFoundError, ValidationError
from appliance.store.provisioning_tables import provisioning_devices
from appliance.store.tables import audit, phone_secrets, phone_sightings, phones

METHODS = ("admin", "tftp", "http", "pnp", "mdns", "snmp", "neighbors", "sip")
ENROLL_HOURS = 24.0  # a one-time enrollment URL not fetched within this time expires


@dataclass(frozen=True)
class PhoneCredentials:
    """A phone's own secrets: the admin password its files set, its HTTP provisioning
    credentials (user = its MAC) and when a pending one-time enrollment URL expires."""

    mac: str
    admin_password: str
    prov_user: str
    prov_password: str
    enroll_expires: datetime | None = None


def _new_secrets(conn: Connection, mac: str) -> None:
    """Give a new phone its own random admin and provisioning passwords."""
    conn.execute(insert(phone_secrets).values(
        mac=mac, admin_password=secrets.token_urlsafe(12),
        prov_password=secrets.token_urlsafe(18)))


def _ip(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValidationError(f"ip: {value!r} is not an IP address", "ip") from None


def _short(value: str | None, size: int, field: str) -> str | None:
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if len(text) > size or not text.isprintable():
        raise ValidationError(f"{field}: up to {size} printable characters", field)
    return text


class PhonesMixin(DirectoryBase):
    """Phones: what was seen, what they are assigned to, and the audit log."""

    def record_sighting(
        self,
        mac: str,
        method: str,
        ip: str | None = None,
        vendor: str | None = None,
        model: str | None = None,
        firmware: str | None = None,
        detail: str | None = None,
    ) -> Phone:
        """Merge one sighting into the phone of that MAC, creating it as ``discovered``."""
        clean = rules.mac_address(mac)
        how = rules.choice(method, METHODS, "method")
        known = {"ip": _ip(ip), "vendor": rules.vendor_name(_short(vendor, 40, "vendor")),
                 "model": _short(model, 60, "model"), "firmware": _short(firmware, 60, "firmware")}
        note = _short(detail, 500, "detail")
        for attempt in range(2):
            try:
                return self._merge(clean, how, known, note)
            except IntegrityError:
                # Another writer created the same phone between our read and insert.
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _merge(self, mac: str, how: str, known: dict[str, Any], note: str | None) -> Phone:
        now = self.clock()
        seen = {k: v for k, v in known.items() if v is not None}
        with self.store.write() as conn:
            exists = conn.execute(select(phones.c.mac).where(phones.c.mac == mac)).first()
            if exists is None:
                conn.execute(insert(phones).values(
                    mac=mac, first_seen=now, last_seen=now, discovered_by=how,
                    state="discovered", **seen))
                _new_secrets(conn, mac)
                self._log(conn, "phone.discovered", mac,
                          {"mac": mac, "method": how, **seen}, now)
            else:
                conn.execute(phones.update().where(phones.c.mac == mac)
                             .values(last_seen=now, **seen))
            sighting = phone_sightings.c
            updated = conn.execute(
                phone_sightings.update().where(sighting.mac == mac, sighting.method == how)
                .values(last_seen=now, ip=known["ip"], detail=note))
            if updated.rowcount == 0:
                conn.execute(insert(phone_sightings).values(
                    mac=mac, method=how, ip=known["ip"], first_seen=now, last_seen=now,
                    detail=note))
            return self._phone(conn, mac)

    def get_phone(self, mac: str) -> Phone:
        """One phone, with every way it was seen."""
        with self.store.read() as conn:
            return self._phone(conn, rules.mac_address(mac))

    def list_phones(self, state: str | None = None, with_sightings: bool = False) -> list[Phone]:
        """The inventory by MAC, optionally in one state, optionally with its sightings."""
        query = select(phones).order_by(phones.c.mac)
        if state is not None:
            query = query.where(phones.c.state == rules.choice(state, rules.PHONE_STATES, "state"))
        with self.store.read() as conn:
            rows = conn.execute(query).all()
            seen: dict[str, list[Sighting]] = {}
            if with_sightings and rows:
                for s in conn.execute(select(phone_sightings).order_by(
                        phone_sightings.c.first_seen, phone_sightings.c.method)):
                    seen.setdefault(s.mac, []).append(Sighting(
                        **{k: v for k, v in s._asdict().items() if k != "mac"}))
            return [Phone(**row._asdict(), sightings=tuple(seen.get(row.mac, ())))
                    for row in rows]

    def assign_phone(self, mac: str, number: str) -> Phone:
        """Give a phone (known, or added now by MAC) the account of an extension."""
        clean, ext = rules.mac_address(mac), rules.extension_number(number, "extension")
        now = self.clock()
        with self.store.write() as conn:
            self._extension(conn, ext)
            row = conn.execute(select(phones).where(phones.c.mac == clean)).first()
            if row is None:
                conn.execute(insert(phones).values(
                    mac=clean, first_seen=now, last_seen=now, discovered_by="admin",
                    state="assigned", extension=ext))
                _new_secrets(conn, clean)
            elif row.extension == ext and row.state == "assigned":
                raise ConflictError(f"phone {clean} is already assigned to extension {ext}")
            else:
                conn.execute(phones.update().where(phones.c.mac == clean)
                             .values(state="assigned", extension=ext))
                if row.extension != ext:
                    forget_uploads(conn, [clean])
            self._log(conn, "phone.assigned", clean, {
                "mac": clean, "extension": ext,
                "previous_extension": None if row is None else row.extension}, now)
            return self._phone(conn, clean)

    def disable_phone(self, mac: str) -> Phone:
        """Switch a phone's account off: it keeps no extension and gets no credentials."""
        clean = rules.mac_address(mac)
        now = self.clock()
        with self.store.write() as conn:
            row = conn.execute(select(phones).where(phones.c.mac == clean)).first()
            if row is None:
                raise NotFoundError(f"phone {clean} is not in the inventory", "mac")
            if row.state == "disabled":
                raise ConflictError(f"phone {clean} is already disabled")
            conn.execute(phones.update().where(phones.c.mac == clean)
                         .values(state="disabled", extension=None))
            forget_uploads(conn, [clean])
            self._log(conn, "phone.disabled", clean,
                      {"mac": clean, "previous_extension": row.extension}, now)
            return self._phone(conn, clean)

    def request_resync(self, mac: str) -> None:
        """Ask provisioning to make a phone fetch its config now: an audited
        ``phone.resync_requested`` event (the web's "resync" button)."""
        clean = rules.mac_address(mac)
        with self.store.write() as conn:
            if conn.execute(select(phones.c.mac).where(phones.c.mac == clean)).first() is None:
                raise NotFoundError(f"phone {clean} is not in the inventory", "mac")
            self._log(conn, "phone.resync_requested", clean, {"mac": clean}, self.clock())

    def phone_credentials(self, mac: str) -> PhoneCredentials:
        """A phone's own secrets, for its page (created if an older store had none)."""
        clean = rules.mac_address(mac)
        with self.store.read() as conn:
            row = self._secrets(conn, clean)
        if row is None:
            with self.store.write() as conn:
                if conn.execute(select(phones.c.mac).where(phones.c.mac == clean)).first() is None:
                    raise NotFoundError(f"phone {clean} is not in the inventory", "mac")
                if self._secrets(conn, clean) is None:
                    _new_secrets(conn, clean)
                row = self._secrets(conn, clean)
        assert row is not None
        expires = row.enroll_expires if row.enroll_sha256 else None
        return PhoneCredentials(clean, row.admin_password, clean, row.prov_password,
                                expires if expires and expires > self.clock() else None)

    def reissue_phone_credentials(self, mac: str) -> PhoneCredentials:
        """New admin and provisioning passwords for a phone (its old ones stop working); it is
        handed them at its next fetch the neighbor table binds, or the admin types them in."""
        clean = rules.mac_address(mac)
        now = self.clock()
        with self.store.write() as conn:
            if conn.execute(select(phones.c.mac).where(phones.c.mac == clean)).first() is None:
                raise NotFoundError(f"phone {clean} is not in the inventory", "mac")
            conn.execute(phone_secrets.delete().where(phone_secrets.c.mac == clean))
            _new_secrets(conn, clean)
            conn.execute(provisioning_devices.delete()
                         .where(provisioning_devices.c.mac == clean))
            self._log(conn, "phone.credentials_reissued", clean, {"mac": clean}, now)
        return self.phone_credentials(clean)

    def start_enrollment(self, mac: str, hours: float = ENROLL_HOURS) -> str:
        """A fresh one-time enrollment token for a phone (replacing any pending one); only its
        SHA-256 is kept. The phone fetching ``/enroll/<token>/<its file>`` once over HTTP(S)
        is handed its credentials."""
        clean = rules.mac_address(mac)
        self.phone_credentials(clean)  # the phone exists and has its secrets
        token = secrets.token_urlsafe(24)
        now = self.clock()
        expires = now + timedelta(hours=hours)
        with self.store.write() as conn:
            conn.execute(phone_secrets.update().where(phone_secrets.c.mac == clean)
                         .values(enroll_sha256=sha256_hex(token), enroll_expires=expires))
            self._log(conn, "phone.enrollment_started", clean,
                      {"mac": clean, "expires": expires.isoformat()}, now)
        return token

    def redeem_enrollment(self, mac: str, token: str) -> bool:
        """Use up ``mac``'s pending enrollment token: True once, for the right unexpired one."""
        clean = rules.mac_address(mac)
        now = self.clock()
        if not token or len(token) > 64:
            return False
        with self.store.write() as conn:
            used = conn.execute(phone_secrets.update().where(
                phone_secrets.c.mac == clean, phone_secrets.c.enroll_sha256 == sha256_hex(token),
                phone_secrets.c.enroll_expires > now).values(enroll_sha256=None,
                                                              enroll_expires=None))
            if used.rowcount != 1:
                return False
            self._log(conn, "phone.enrolled", clean, {"mac": clean}, now)
        return True

    @staticmethod
    def _secrets(conn: Connection, mac: str) -> Any:
        return conn.execute(select(phone_secrets).where(phone_secrets.c.mac == mac)).first()

    def audit_log(self, limit: int = 100, search: str | None = None) -> list[AuditEntry]:
        """The newest audit entries first, optionally those whose action, target or actor
        contain ``search``."""
        query = select(audit).order_by(audit.c.id.desc()).limit(max(1, min(limit, 10_000)))
        if search:
            query = query.where(audit.c.action.contains(search, autoescape=True)
                                | audit.c.target.contains(search, autoescape=True)
                                | audit.c.actor.contains(search, autoescape=True))
        with self.store.read() as conn:
            return [AuditEntry(**row._asdict()) for row in conn.execute(query)]

    @staticmethod
    def _phone(conn: Connection, mac: str) -> Phone:
        row = conn.execute(select(phones).where(phones.c.mac == mac)).first()
        if row is None:
            raise NotFoundError(f"phone {mac} is not in the inventory", "mac")
        seen = conn.execute(
            select(phone_sightings).where(phone_sightings.c.mac == mac)
            .order_by(phone_sightings.c.first_seen, phone_sightings.c.method))
        sightings = tuple(Sighting(**{k: v for k, v in s._asdict().items() if k != "mac"})
                          for s in seen)
        return Phone(**row._asdict(), sightings=sightings)
