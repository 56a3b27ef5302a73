"""The audit log as people read it: a label for every action, targets by name, details as
sentences, and a search over exactly that text. The web page passes its translator; the CLI
passes ``english`` (the same sentences, untranslated).

Every action the code writes (``journal.record``, the directory's ``_log``, the SIP part's
entries) has a label here; tests/unit/test_web_auditlog.py greps the code to keep it so.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from appliance.directory import AuditEntry
from appliance.store import Store
from appliance.store.tables import audit, employees
from appliance.web.i18n import N_

Translate = Callable[..., str]


def english(text: str, **variables: Any) -> str:
    """The identity translator (for the CLI): ``%(name)s`` placeholders filled."""
    return text % variables if variables else text


ACTIONS = {
    "employee.added": N_("Employee added"),
    "employee.updated": N_("Employee changed"),
    "employee.dismissed": N_("Employee dismissed"),
    "extension.added": N_("Extension added"),
    "extension.updated": N_("Extension changed"),
    "extension.assigned": N_("Extension assigned"),
    "extension.freed": N_("Extension freed"),
    "extension.password_changed": N_("SIP password changed"),
    "extension.credentials_shown": N_("SIP login info shown"),
    "phone.discovered": N_("Phone discovered"),
    "phone.assigned": N_("Phone assigned"),
    "phone.disabled": N_("Phone disabled"),
    "phone.resync_requested": N_("Phone resync requested"),
    "phone.credentials_reissued": N_("Phone given new credentials"),
    "phone.enrollment_started": N_("Enrollment URL made"),
    "phone.enrolled": N_("Phone enrolled"),
    "setup.token_issued": N_("Setup token issued"),
    "setup.token_used": N_("Setup token used"),
    "setup.done": N_("Setup done"),
    "admin.added": N_("Web user added"),
    "admin.removed": N_("Web user removed"),
    "admin.password_changed": N_("Web password changed"),
    "admin.language": N_("Language changed"),
    "admin.login": N_("Signed in"),
    "admin.logout": N_("Signed out"),
    "admin.sessions_revoked": N_("Sessions ended"),
    "settings.changed": N_("Settings changed"),
    "sip.unbanned": N_("SIP ban lifted"),
    "sip.bindings_dropped": N_("Registrations dropped"),
    "sip.call_ended": N_("Call ended"),
    "call.hangup": N_("Call hung up"),
    "calls.retention_set": N_("Call history retention set"),
    "backup.made": N_("Backup made"),
    "backup.downloaded": N_("Backup downloaded"),
    "backup.restored": N_("Backup restored"),
    "firmware.added": N_("Firmware image added"),
    "connection.added": N_("Connection added"),
    "connection.updated": N_("Connection changed"),
    "connection.removed": N_("Connection removed"),
    "number.added": N_("Outside number added"),
    "number.updated": N_("Outside number changed"),
    "number.removed": N_("Outside number removed"),
    "queue.added": N_("Queue added"),
    "queue.updated": N_("Queue changed"),
    "queue.removed": N_("Queue removed"),
    "menu.added": N_("Voice menu added"),
    "menu.updated": N_("Voice menu changed"),
    "menu.removed": N_("Voice menu removed"),
    "menu.key_set": N_("Voice menu key set"),
    "menu.key_removed": N_("Voice menu key removed"),
    "recording.listened": N_("Call recording listened to"),
    "hold_music.uploaded": N_("Hold music uploaded"),
    "hold_music.removed": N_("Hold music back to the built-in one"),
    "hours.set": N_("Office hours set"),
    "hours.override": N_("Office hours overridden"),
    "hours.removed": N_("Office hours removed"),
    "holiday.added": N_("Holiday added"),
    "holiday.removed": N_("Holiday removed"),
    "contact.set": N_("Contact set"),
    "contact.removed": N_("Contact removed"),
    "presence.set": N_("Presence set"),
    "callback.rule_set": N_("Callbacks set for a number"),
    "callback.rule_removed": N_("Callbacks removed from a number"),
    "callback.dropped": N_("Callback dropped"),
    "voicemail.updated": N_("Voicemail box changed"),
    "voicemail.greeting_set": N_("Voicemail greeting set"),
    "voicemail.greeting_removed": N_("Voicemail greeting back to the built-in one"),
    "voicemail.listened": N_("Voicemail message listened to"),
    "voicemail.removed": N_("Voicemail message deleted"),
    "supervisor.listened": N_("Supervisor listened in"),
}
FIELD_LABELS = {
    "name": N_("name"), "mobile": N_("mobile number"), "permission": N_("call permission"),
    "receive": N_("where calls ring"), "supervisor": N_("supervisor"),
    "group": N_("outbound number group"), "description": N_("description"),
    "servers": N_("servers"), "password": N_("password"), "username": N_("username"),
    # connections, office numbers, queues (appliance/directory/connections.py)
    "kind": N_("kind"), "allowed_sources": N_("accepted sources"),
    "caller_id": N_("presented number"), "number_format": N_("number format"),
    "max_calls": N_("calls at once"), "codecs": N_("codecs"),
    "allowed_extensions": N_("extensions that may call out"),
    "allowed_groups": N_("number groups that may call out"), "prefix": N_("prefix"),
    "default": N_("default connection"), "domain": N_("domain"),
    "auth_username": N_("auth username"), "expires": N_("registration expiry"),
    "connection": N_("connection"), "destination": N_("destination"),
    "to_header": N_("number taken from"), "contacts_map": N_("contacts"),
    "after_hours": N_("after hours"), "hours": N_("working hours"),
    "no_answer": N_("when nobody answers"), "no_answer_connection": N_("no-answer connection"),
    "ring_timeout": N_("ring time"), "members": N_("members"), "strategy": N_("strategy"),
    "ring_time": N_("ring time"), "timeout": N_("timeout"), "fallback": N_("fallback"),
    "ring_busy": N_("ring busy members"),
    "greeting": N_("greeting"), "greeting_language": N_("greeting language"),
    "greeting_text": N_("greeting text"), "greeting_wait": N_("time to dial after the greeting"),
    "record": N_("call recording"), "rating": N_("rating after the call"),
    # voice menus (appliance/directory/menus.py)
    "text": N_("spoken text"), "language": N_("language"),
    "extensions": N_("extensions dialled in the menu"), "timeout_retries": N_("retries on no key"),
    "timeout_destination": N_("after no key"), "invalid_retries": N_("retries on a wrong key"),
    "invalid_destination": N_("after wrong keys"),
    # missed-call callbacks (appliance/directory/callbacks.py)
    "delay": N_("delay"), "attempts": N_("attempts"), "interval": N_("interval"),
    # voicemail boxes (appliance/directory/voicemail.py; "language" as above)
    "enabled": N_("taking messages"), "pin": N_("PIN"), "email": N_("e-mail address"),
}
REASONS = {
    "dismissed": N_("the employee was dismissed"), "unassigned": N_("the extension was freed"),
    "out of service": N_("the extension is out of service"),
    "password changed": N_("the SIP password was changed"),
    "phone disabled": N_("the phone was disabled"),
    "hung up": N_("an admin hung it up"),
}
TRIGGERS = {"nightly": N_("nightly"), "cli": N_("command line"), "web": N_("admin page"),
            "pre-migration": N_("before a migration"), "restore": N_("restore")}
METHODS = {"admin": N_("added by an admin"), "tftp": N_("TFTP"), "http": N_("HTTP"),
           "pnp": N_("SIP PnP"), "mdns": N_("mDNS"), "snmp": N_("SNMP"),
           "neighbors": N_("neighbor table"), "sip": N_("SIP")}
LANGUAGE_NAMES = {"en": "English", "vi": "Tiếng Việt"}
PRESENCE_LABELS = {"working": N_("working"), "on_break": N_("on a break"), "off": N_("off work")}


@dataclass
class Names:
    """Who the ids in entries are: employee names; the labels of setting keys."""

    employees: dict[int, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, settings: dict[str, str] | None = None) -> Names:
        """Every employee's name, in one read."""
        with store.read() as conn:
            people = {int(r.id): str(r.name)
                      for r in conn.execute(select(employees.c.id, employees.c.name))}
        return cls(people, settings or {})

    def person(self, employee_id: Any) -> str:
        """``Nguyễn Văn An (#1)``, or ``#1`` for an id no longer known."""
        try:
            key = int(employee_id)
        except (TypeError, ValueError):
            return str(employee_id)
        name = self.employees.get(key)
        return f"{name} (#{key})" if name else f"#{key}"


@dataclass(frozen=True)
class Shown:
    """An audit entry as shown: its action's label, its target by name, a sentence."""

    id: int
    at: datetime
    actor: str
    action: str
    label: str
    target: str
    detail: str
    entry: AuditEntry

    def words(self, when: str = "") -> str:
        """Everything shown, folded for search."""
        return fold(" ".join((when, self.actor, self.action, self.label, self.target,
                              self.detail)))


def fold(text: str) -> str:
    """Lower case without accents (``Nguyễn`` matches ``nguyen``; ``đ`` is ``d``)."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("đ", "d"))
    return "".join(c for c in text if not unicodedata.combining(c))


def mac_text(mac: Any) -> str:
    """``001565123456`` as ``00:15:65:12:34:56``."""
    text = str(mac)
    if len(text) != 12:
        return text
    return ":".join(text[i:i + 2] for i in range(0, 12, 2))


def actor_text(actor: str, _: Translate) -> str:
    """``web:boss`` as ``boss (admin page)``, ``cli:root`` as ``root (command line)``."""
    where, sep, who = actor.partition(":")
    if sep and where == "web":
        return _("%(user)s (admin page)", user=who)
    if sep and where == "cli":
        return _("%(user)s (command line)", user=who)
    if actor == "sip":
        return _("SIP core")
    if actor in ("system", "daemon"):
        return _("the appliance")
    return actor


def target_text(entry: AuditEntry, names: Names, _: Translate) -> str:  # noqa: PLR0911
    """The target by name as well as id."""
    kind = entry.action.partition(".")[0]
    target, detail = entry.target, entry.detail
    if kind == "employee" or (kind == "presence" and target.isdigit()):
        return names.person(target)
    if kind == "extension" or (entry.action in ("sip.bindings_dropped", "sip.call_ended") \
            and target.isdigit()):
        holder = detail.get("employee_id")  # who it went to or came from, not today's holder
        return _("extension %(n)s", n=target) + (f" · {names.person(holder)}" if holder else "")
    if kind == "phone" or entry.action == "sip.bindings_dropped":
        return mac_text(target)
    if kind == "admin":
        return _("web user %(name)s", name=target)
    if kind == "setup":
        return _("first-boot setup")
    if kind == "settings":
        return _("settings")
    if entry.action == "call.hangup":
        return _("call %(ref)s", ref=target)
    if kind == "voicemail":
        return _("voicemail of %(who)s", who=names.person(target))
    if kind == "calls":
        return _("call history")
    return target


def _fields(values: Iterable[Any], names: dict[str, str], _: Translate) -> str:
    return ", ".join(_(names[str(v)]) if str(v) in names else str(v) for v in values)


def _reason(value: Any, _: Translate) -> str:
    return _(REASONS[value]) if value in REASONS else str(value)


def _size(count: Any) -> str:
    try:
        size = float(count)
    except (TypeError, ValueError):
        return str(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return str(count)  # pragma: no cover


def _changed(d: dict[str, Any], names: dict[str, str], _: Translate) -> str:
    fields = d.get("fields") or []
    if not fields:
        return _("Nothing changed.")
    return _("Changed: %(fields)s.", fields=_fields(fields, names, _))


def _phones(macs: Any) -> str:
    return ", ".join(mac_text(m) for m in macs or [])


def _setting(key: str, value: Any, names: Names, _: Translate) -> str:
    label = _(names.settings[key]) if key in names.settings else key
    if isinstance(value, bool):
        shown = _("on") if value else _("off")
    elif isinstance(value, list):
        shown = ", ".join(str(v) for v in value) or _("none")
    elif value in ("", None):
        shown = _("empty")
    elif value == "(changed)":
        shown = _("(changed, not shown)")
    else:
        shown = str(value)
    return f"{label}: {shown}"


def _media_sentence(a: str, d: dict[str, Any], _: Translate) -> str:
    """Voice menu keys, recordings listened to, hold music, voicemail."""
    if a.startswith("voicemail."):
        return _voicemail_sentence(a, d, _)
    if a == "menu.key_set":
        return _("Key %(key)s: %(destination)s.", key=d.get("key"),
                 destination=d.get("destination"))
    if a == "menu.key_removed":
        return _("Key %(key)s removed.", key=d.get("key"))
    if a == "recording.listened":
        return _("Call %(call)s, downloaded.", call=d.get("call")) \
            if d.get("how") == "downloaded" else _("Call %(call)s, played.", call=d.get("call"))
    if a == "hold_music.uploaded":
        return _("%(seconds)s s of music.", seconds=d.get("seconds"))
    return ""


def _voicemail_sentence(a: str, d: dict[str, Any], _: Translate) -> str:
    """Voicemail messages listened to and deleted, greetings."""
    if a == "voicemail.listened":
        return _("Message %(id)s, downloaded.", id=d.get("message")) \
            if d.get("how") == "downloaded" else _("Message %(id)s, played.", id=d.get("message"))
    if a == "voicemail.removed":
        return _("Message %(id)s from %(caller)s, left at extension %(n)s.",
                 id=d.get("message"), caller=d.get("caller"), n=d.get("extension"))
    if a == "voicemail.greeting_set":
        return _("Callers hear the box's own greeting.")
    if a == "voicemail.greeting_removed":
        return _("Callers hear the built-in greeting.")
    return ""


def sentence(entry: AuditEntry, names: Names, _: Translate) -> str:  # noqa: PLR0911, PLR0912
    """The entry's detail as a sentence in the translator's language."""
    a, d = entry.action, entry.detail
    if a in ("employee.updated", "extension.updated", "connection.updated", "number.updated",
             "queue.updated", "menu.updated", "voicemail.updated"):
        return _changed(d, FIELD_LABELS, _)
    if a.startswith(("menu.key_", "recording.", "hold_music.", "voicemail.")):
        return _media_sentence(a, d, _)
    if a == "employee.dismissed":
        parts = [_("Extension %(n)s was freed with a new SIP password.", n=d["extension"])
                 if d.get("extension") else _("They held no extension.")]
        if d.get("phones"):
            parts.append(_("Phones disabled: %(macs)s.", macs=_phones(d["phones"])))
        return " ".join(parts)
    if a == "extension.assigned":
        return _("Given to %(who)s, with a new SIP password.",
                 who=names.person(d.get("employee_id")))
    if a == "extension.freed":
        parts = [_("Taken from %(who)s because %(why)s; it has a new SIP password.",
                   who=names.person(d.get("employee_id")), why=_reason(d.get("reason"), _))
                 if d.get("employee_id") else _("Freed; it has a new SIP password.")]
        if d.get("phones"):
            parts.append(_("Phones disabled: %(macs)s.", macs=_phones(d["phones"])))
        return " ".join(parts)
    if a == "extension.password_changed":
        return _("A new password was generated.") if d.get("generated") \
            else _("A password was typed in.")
    if a == "extension.credentials_shown":
        return _("The SIP password and QR code were shown.")
    if a == "phone.discovered":
        what = " ".join(str(d[k]) for k in ("vendor", "model") if d.get(k))
        how = _(METHODS[d["method"]]) if d.get("method") in METHODS else str(d.get("method"))
        text = _("Found by %(how)s", how=how)
        if d.get("ip"):
            text += " " + _("at %(ip)s", ip=d["ip"])
        return text + (f" ({what})." if what else ".")
    if a == "phone.assigned":
        text = _("Now has the account of extension %(n)s.", n=d.get("extension"))
        if d.get("previous_extension") and d["previous_extension"] != d.get("extension"):
            text += " " + _("Before: extension %(n)s.", n=d["previous_extension"])
        return text
    if a == "phone.disabled":
        return _("Its account is off (it had extension %(n)s).", n=d["previous_extension"]) \
            if d.get("previous_extension") else _("Its account is off.")
    if a == "phone.enrollment_started":
        return _("A one-time enrollment URL was made.")
    if a == "settings.changed":
        return "; ".join(_setting(k, v, names, _) for k, v in sorted(d.items())) + "."
    if a == "sip.unbanned":
        return _("%(address)s may try to register again.", address=d.get("address", entry.target))
    if a == "sip.bindings_dropped":
        return _("%(count)s registrations of extension %(n)s dropped because %(why)s.",
                 count=d.get("count", "?"), n=d.get("extension", "?"),
                 why=_reason(d.get("reason"), _))
    if a == "sip.call_ended":
        text = _("The call from %(caller)s to %(callee)s was ended because %(why)s.",
                 caller=d.get("caller", "?"), callee=d.get("callee", "?"),
                 why=_reason(d.get("reason"), _))
        return text + " " + (_("It had been answered.") if d.get("answered")
                             else _("It had not been answered."))
    if a == "call.hangup":
        return _("The call from %(caller)s to %(callee)s was hung up at both ends.",
                 caller=d.get("caller", "?"), callee=d.get("callee", "?"))
    if a == "calls.retention_set":
        return _("Calls are kept %(days)s days.", days=d.get("days", "?"))
    if a.startswith("backup."):
        trigger = d.get("trigger")
        return _("%(files)s files, %(size)s (%(trigger)s).", files=d.get("files", "?"),
                 size=_size(d.get("bytes")),
                 trigger=_(TRIGGERS[trigger]) if trigger in TRIGGERS else str(trigger))
    if a == "firmware.added":
        return _("Version %(version)s, file %(file)s, %(size)s.", version=d.get("version"),
                 file=d.get("file"), size=_size(d.get("size")))
    if a in ("admin.added", "admin.removed"):
        return _("Role: %(role)s.", role=_("admin") if d.get("role") == "admin" else _("viewer"))
    if a == "admin.language":
        return _("Now %(language)s.", language=LANGUAGE_NAMES.get(d.get("language", ""),
                                                                 d.get("language")))
    if a == "admin.sessions_revoked":
        return _("%(count)s sessions ended.", count=d.get("sessions", 0))
    if a == "admin.password_changed":
        return _("Their other sessions were ended.")
    if a in ("connection.added", "number.added", "queue.added", "menu.added"):
        return _("With: %(fields)s.", fields=_fields(d.get("fields") or [], FIELD_LABELS, _)) \
            if d.get("fields") else ""
    if a == "connection.removed" and d.get("new_default"):
        return _("%(name)s is now the default connection.", name=d["new_default"])
    if a == "holiday.added":
        return _("From %(first)s to %(last)s.", first=d.get("first"), last=d.get("last"))
    if a == "contact.set" and d.get("employee_id"):
        return _("Shown as %(who)s.", who=names.person(d["employee_id"]))
    if a == "presence.set":
        state = str(d.get("state"))
        return _("Now: %(state)s.", state=_(PRESENCE_LABELS[state]) if state in
                 PRESENCE_LABELS else state)
    if a == "hours.override":
        return _("Now: %(state)s.", state=d.get("override") or _("by the schedule"))
    rest = [f"{k}: {_plain(v)}" for k, v in sorted(d.items())
            if k not in ("mac", "number", "employee_id", "did", "connection", "queue", "hours")]
    return "; ".join(rest) + "." if rest else ""


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def describe(entry: AuditEntry, names: Names, _: Translate = english) -> Shown:
    """``entry`` as people read it."""
    label = _(ACTIONS[entry.action]) if entry.action in ACTIONS else entry.action
    try:
        detail = sentence(entry, names, _)
    except (KeyError, TypeError, ValueError):  # an older entry's shape: show it plainly
        detail = "; ".join(f"{k}: {_plain(v)}" for k, v in sorted(entry.detail.items()))
    return Shown(entry.id, entry.at, actor_text(entry.actor, _), entry.action, label,
                 target_text(entry, names, _), detail, entry)


def newest(store: Store, before: int | None, count: int) -> list[AuditEntry]:
    """Up to ``count`` entries older than id ``before`` (all when None), newest first."""
    query = select(audit).order_by(audit.c.id.desc()).limit(count)
    if before is not None:
        query = query.where(audit.c.id < before)
    with store.read() as conn:
        return [AuditEntry(**row._asdict()) for row in conn.execute(query)]


SCAN_LIMIT = 50_000  # a search reads at most this many entries (newest first)


def search(store: Store, text: str, limit: int, names: Names, _: Translate = english,
           when: Callable[[datetime], str] = lambda at: f"{at:%Y-%m-%d %H:%M:%S}",
           batch: int = 500) -> tuple[list[Shown], bool]:
    """The newest ``limit`` entries whose shown text contains every word of ``text``
    (accents and case ignored); and whether older entries were left unread (SCAN_LIMIT)."""
    words = fold(text).split()
    found: list[Shown] = []
    before: int | None = None
    read = 0
    while len(found) < limit:
        chunk = newest(store, before, batch if words else limit)
        if not chunk:
            return found, False
        for entry in chunk:
            shown = describe(entry, names, _)
            haystack = shown.words(when(entry.at))
            if all(w in haystack for w in words):
                found.append(shown)
                if len(found) == limit:
                    return found, False
        read += len(chunk)
        before = chunk[-1].id
        if not words:
            return found, False
        if read >= SCAN_LIMIT:
            return found, True
    return found, False  # pragma: no cover
