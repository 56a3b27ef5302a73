"""Connections (the office's SIP trunks and PBXs) and office numbers on the web page: the
list with each connection's live registration status (published by the daemon in the store),
add, edit and remove (admins only: the guard refuses a viewer's post). A connection's password
is write-only: never put in a page, a blank field keeps it. A number's own greeting text is
spoken (espeak-ng) when it is saved, before anything is stored: a text the box cannot speak
is refused beside its field. A number may record its calls (callers are told first). An
existing number's greeting may be an uploaded MP3 recording instead of the spoken one (the
"Recorded greeting" card; the helpers here serve a voice menu's recorded prompt too): checked
and converted once into the prompts folder (``media.uploads.install_prompt``), a refused file
says why beside its field and nothing is stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from appliance.callplan.model import (
    CONNECTION_KINDS,
    NO_ANSWER_ACTIONS,
    NUMBER_FORMATS,
    Connection,
    Greeting,
    Number,
)
from appliance.directory import plan_rules, trunk_status
from appliance.directory.office import CallPlanDirectory
from appliance.directory.trunk_status import ConnectionStatus
from appliance.errors import DirectoryError, PromptError
from appliance.media import prompts
from appliance.media.uploads import install_prompt
from appliance.web.common import FORM, Errors, config, page, store, user
from appliance.web.i18n import LANGUAGES, N_, _
from appliance.web.messages import bare, matched, translate
from appliance.web.settings import MAX_MB, hold_error

bp = Blueprint("connections", __name__)
T = TypeVar("T")

TEXTS = ("username", "auth_username", "domain", "expires", "caller_id", "number_format",
         "max_calls", "prefix", "kind")
LISTS = ("servers", "allowed_sources", "codecs", "allowed_extensions", "allowed_groups")
NUMBER_TEXTS = ("connection", "destination", "after_hours", "hours", "no_answer",
                "no_answer_connection", "ring_timeout", "greeting_language", "greeting_text",
                "greeting_wait")
NUMBER_CHECKS = ("to_header", "contacts_map", "greeting", "record", "rating")
SHOWN = ("name", "password", "default", *TEXTS, *LISTS)  # the fields errors are shown beside
NUMBER_SHOWN = ("did", *NUMBER_CHECKS, *NUMBER_TEXTS)
FORMAT_LABELS = {"e164_plus": N_("E.164 with + (+84912345678)"),
                 "intl_digits": N_("International digits (84912345678)"),
                 "national": N_("National (0912345678)")}
KIND_LABELS = {"register": N_("Register: the box registers with the provider"),
               "ip": N_("IP: calls accepted from listed addresses")}
STATE_LABELS = {"registering": N_("registering"), "registered": N_("registered"),
                "failing": N_("failing"), "stopped": N_("stopped"), "": N_("not running")}
NO_ANSWER_LABELS = {"continue": N_("Go on with the number's routing"),
                    "mobile": N_("Ring the person's mobile"),
                    "voicemail": N_("Take a message (voicemail)")}
_SPLIT = re.compile(r"[\s,]+")

# The call plan's error messages (appliance/directory/connections.py, plan_rules.py) in the
# user's language; others go to the directory's table (web/messages.py).
PLAN_ERRORS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"write host\[:port\]\[;transport=udp\|tcp\|tls\], got (?P<got>.*)",
     N_("Write host[:port][;transport=udp|tcp|tls], got %(got)s.")),
    (r"(?P<value>'.*') is not a host name or address",
     N_("%(value)s is not a host name or address.")),
    (r"1 to (?P<n>\d+) different servers", N_("Give 1 to %(n)s different servers.")),
    (r"a register connection needs a username and a password",
     N_("A register connection needs a username and a password.")),
    (r"an ip connection needs the addresses it accepts calls from",
     N_("An IP connection needs the addresses it accepts calls from.")),
    (r"an address or subnet such as 203\.0\.113\.0/28, got (?P<got>.*)",
     N_("An address or subnet such as 203.0.113.0/28, got %(got)s.")),
    (r"a telephone number such as \+842838123456 or 0912345678, got (?P<got>.*)",
     N_("A telephone number such as +842838123456 or 0912345678, got %(got)s.")),
    (r"a whole number, got (?P<got>.*)", N_("A whole number, got %(got)s.")),
    (r"from (?P<low>\d+) to (?P<high>\d+), got (?P<got>.*)",
     N_("From %(low)s to %(high)s, got %(got)s.")),
    (r"1 to (?P<n>\d+) printable ASCII characters without spaces",
     N_("1 to %(n)s printable ASCII characters without spaces.")),
    (r"a host name or address alone, got (?P<got>.*)",
     N_("A host name or address alone, got %(got)s.")),
    (r"'\*' digits '\*' such as \*123\*, or digits such as 802, got (?P<got>.*)",
     N_("'*' digits '*' such as *123*, or digits such as 802, got %(got)s.")),
    (r"(?P<prefix>\S+) is connection (?P<name>'.*')'s",
     N_("%(prefix)s is already the prefix of connection %(name)s.")),
    (r"a connection named (?P<name>'.*') exists",
     N_("A connection named %(name)s exists.")),
    (r"(?P<name>'.*') is used by (?P<users>.*); change those first",
     N_("%(name)s is used by %(users)s; change those first.")),
    (r"make another connection the default instead",
     N_("Make another connection the default instead.")),
    (r"no connection named (?P<name>'.*')", N_("There is no connection named %(name)s.")),
    (r"no extension (?P<n>[0-9, ]+)", N_("There is no extension %(n)s.")),
    (r"no queue named (?P<name>'.*')", N_("There is no queue named %(name)s.")),
    (r"no menu named (?P<name>'.*')", N_("There is no voice menu named %(name)s.")),
    (r"no working hours named (?P<name>'.*')", N_("There are no working hours named %(name)s.")),
    (r"(?P<did>\+\d+) is already an office number", N_("%(did)s is already an office number.")),
    (r"this change makes a cycle: (?P<cycle>.*)",
     N_("This change makes a routing cycle: %(cycle)s.")),
    (r"only an outside number takes @connection",
     N_("Only an outside number takes @connection.")),
    (r"hangup takes no target", N_("Hang up takes no target.")),
    # queue groups and presence
    (r"a queue named (?P<name>'.*') exists", N_("A queue named %(name)s exists.")),
    (r"(?P<name>'.*') is where (?P<users>.*) send calls; change those first",
     N_("%(users)s send calls to %(name)s; change those first.")),
    (r"one of (?P<choices>[a-z_, ]+), got .*", N_("Choose one of: %(choices)s.")),
    (r"at most (?P<n>\d+)", N_("At most %(n)s.")),
    (r"employee (?P<id>\d+) is dismissed", N_("Employee %(id)s is dismissed.")),
]]


def plan_error(exc: DirectoryError) -> str:
    """A call plan error in the user's language, without its field prefix."""
    return matched(bare(exc), PLAN_ERRORS) or translate(exc)


def _attempt(errors: Errors, change: Callable[[], T],
             shown: tuple[str, ...] = ()) -> T | None:
    """Run ``change``; an error goes under its field when the form shows it, else on top."""
    try:
        return change()
    except DirectoryError as exc:
        field = exc.field if exc.field in shown else FORM
        errors.setdefault(field, []).append(plan_error(exc))
        return None


def _plan() -> CallPlanDirectory:
    return CallPlanDirectory(store(), actor=f"web:{user().username}")


def connection_names() -> dict[int, str]:
    """Every connection's name, by id."""
    return {c.id: c.name for c in CallPlanDirectory(store()).list_connections()}


def _server(host: str, port: int, transport: str) -> str:
    where = f"[{host}]" if ":" in host else host
    return where + (f":{port}" if port else "") + ("" if transport == "udp"
                                                   else f";transport={transport}")


def status_view(conn: Connection, status: ConnectionStatus | None) -> dict[str, Any]:
    """What the page shows of a connection's registration: a badge and a sentence."""
    if conn.kind != "register":
        return {"state": "ip", "label": _("by address"), "detail": ""}
    state = "" if status is None else status.state
    label = _(STATE_LABELS.get(state, state))
    detail = ""
    if status is not None and state == "registered":
        detail = _("at %(server)s until %(when)s", server=status.server or "-",
                   when=_clock(status.expires_at))
    elif status is not None and state == "failing":
        detail = _("%(answer)s since %(when)s", answer=status.last_answer or "?",
                   when=_clock(status.since))
    elif status is None:
        detail = _("The daemon's SIP part has not started it.")
    return {"state": state or "stopped", "label": label, "detail": detail}


def _clock(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


# -- the list ---------------------------------------------------------------------------------

@bp.get("/connections")
def index() -> str:
    """Every connection with its live status, and every office number."""
    plan = CallPlanDirectory(store())
    conns = plan.list_connections()
    statuses = trunk_status.read(store())
    names = {c.id: c.name for c in conns}
    return page("connections.html", conns=conns, names=names,
                status={c.name: status_view(c, statuses.get(c.name)) for c in conns},
                numbers=plan.list_numbers(), dest=_dest_text, server=_server)


def _dest_text(dest: Any, names: dict[int, str]) -> str:
    if dest is None:
        return ""
    via = names.get(dest.connection_id) if dest.connection_id is not None else None
    return plan_rules.destination_text(dest, via)


# -- connections ------------------------------------------------------------------------------

def _connection_values(conn: Connection | None) -> dict[str, str]:
    """The form's fields as text (never the password)."""
    if conn is None:
        return {"name": "", "kind": "register", "servers": "", "username": "",
                "auth_username": "", "domain": "", "expires": "3600", "caller_id": "",
                "number_format": "e164_plus", "max_calls": "0", "prefix": "",
                "codecs": "PCMA, PCMU, telephone-event", "allowed_sources": "",
                "allowed_extensions": "", "allowed_groups": "", "default": ""}
    return {
        "name": conn.name, "kind": conn.kind,
        "servers": "\n".join(_server(s.host, s.port, s.transport) for s in conn.servers),
        "username": conn.username or "", "auth_username": conn.auth_username or "",
        "domain": conn.domain or "", "expires": str(conn.expires),
        "caller_id": conn.caller_id or "", "number_format": conn.number_format,
        "max_calls": str(conn.max_calls), "prefix": conn.prefix or "",
        "codecs": ", ".join(conn.codecs), "allowed_sources": "\n".join(conn.allowed_sources),
        "allowed_extensions": ", ".join(sorted(conn.allowed_extensions)),
        "allowed_groups": ", ".join(sorted(conn.allowed_groups)),
        "default": "on" if conn.default else "",
    }


def _posted(keys: tuple[str, ...]) -> dict[str, str]:
    return {k: request.form.get(k, "").strip() for k in keys}


def _connection_fields(values: dict[str, str], before: dict[str, str]) -> dict[str, Any]:
    """The directory fields of what changed in the form (all of them for a new one)."""
    fields: dict[str, Any] = {}
    for key in TEXTS:
        if values[key] != before.get(key) and (values[key] or before):
            fields[key] = values[key] or None
    for key in LISTS:
        posted = [v for v in _SPLIT.split(values[key]) if v]
        if key not in before or _normal(key, posted) != _normal(key, _SPLIT.split(before[key])):
            fields[key] = posted
    if values["default"] and not before.get("default"):
        fields["default"] = True
    return fields


def _normal(key: str, items: list[str]) -> list[str]:
    """A list field as the directory would keep it, to tell whether it changed."""
    items = [i for i in items if i]
    if key == "servers":
        try:
            return [str(plan_rules.server(i)) for i in items]
        except DirectoryError:
            return items
    return sorted(items) if key in ("allowed_extensions", "allowed_groups") else items


def _connection_form(conn: Connection | None) -> Any:
    errors: Errors = {}
    before = _connection_values(conn)
    values = dict(before)
    if request.method == "POST":
        values = {**_posted(("name", *TEXTS, *LISTS)), "default": request.form.get(
            "default", "")}
        if conn is not None:
            values["name"] = conn.name
        fields = _connection_fields(values, before if conn is not None else {})
        password = request.form.get("password", "")
        if password:
            fields["password"] = password
        plan = _plan()
        if conn is None:
            servers = fields.pop("servers", [])
            kind = fields.pop("kind", None) or "register"
            done = _attempt(errors, lambda: plan.add_connection(values["name"], kind, servers,
                                                                **fields), SHOWN)
        else:
            done = _attempt(errors, lambda: plan.update_connection(conn.name, **fields), SHOWN)
        if done is not None:
            flash(_("Connection %(name)s saved.", name=done.name), "success")
            return redirect(url_for("connections.index"))
    choices = {"kinds": [(k, _(KIND_LABELS[k])) for k in CONNECTION_KINDS],
               "formats": [(f, _(FORMAT_LABELS[f])) for f in NUMBER_FORMATS]}
    status = None
    if conn is not None:
        status = status_view(conn, trunk_status.read(store()).get(conn.name))
    return page("connection.html", conn=conn, values=values, errors=errors, status=status,
                has_password=bool(conn and conn.password), **choices), 400 if errors else 200


@bp.route("/connections/new", methods=["GET", "POST"])
def new() -> Any:
    """Add a connection."""
    return _connection_form(None)


@bp.route("/connections/<name>", methods=["GET", "POST"])
def edit(name: str) -> Any:
    """Show and change a connection (a blank password keeps the one set)."""
    try:
        conn = CallPlanDirectory(store()).get_connection(name)
    except DirectoryError:
        abort(404)
    return _connection_form(conn)


@bp.post("/connections/<name>/remove")
def remove(name: str) -> Any:
    """Remove a connection no number uses (the daemon un-registers it)."""
    errors: Errors = {}
    _attempt(errors, lambda: _plan().remove_connection(name))
    _flash_all(errors)
    if not errors:
        flash(_("Connection %(name)s removed.", name=name), "success")
    return redirect(url_for("connections.index"))


def _flash_all(errors: Errors) -> None:
    for messages in errors.values():
        for message in messages:
            flash(message, "error")


# -- recorded prompts (a number's greeting here, a voice menu's in web/menus.py) -------------

RECORDING = "recording"  # the anchor of the card that shows and takes the recording


def prompt_folder() -> Path:
    """The box's prompts folder, where an uploaded recording is kept."""
    return prompts.folder_of(config().paths.data)


def recording_view(name: str | None) -> dict[str, Any]:
    """What the card shows of an uploaded recording: whether one is set, its length in
    seconds (None when unreadable) and whether its file is gone (the text is spoken then)."""
    if not name:
        return {"set": False, "seconds": None, "missing": False}
    path = prompt_folder() / name  # a checked upload-<sha16>.wav name, never a path
    if not path.is_file():
        return {"set": True, "seconds": None, "missing": True}
    try:
        seconds: float | None = round(prompts.wav_seconds(path), 1)
    except PromptError:
        seconds = None
    return {"set": True, "seconds": seconds, "missing": False}


def too_big() -> Errors:
    """The error beside the file field of an upload refused for its size before it was read."""
    return {"file": [_("The file is too large: at most %(max)s MB.", max=MAX_MB)]}


def install_recording(field: str, keep: Callable[[str], object],
                      error: Callable[[DirectoryError], str] = plan_error) -> Errors:
    """Check the posted MP3 (``file``), convert it once into the prompts folder and store its
    name with ``keep`` (the directory audits it); the errors beside the file field, none when
    done. A refused file (the ValidationError of ``field``) stores nothing."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return {"file": [_("Choose an MP3 file to upload.")]}
    data = upload.read()
    try:
        keep(install_prompt(data, prompt_folder(), field))
    except DirectoryError as exc:
        return {"file": [hold_error(exc) if exc.field == field else error(exc)]}
    except OSError:
        current_app.logger.exception("an uploaded recording could not be stored")
        return {"file": [_("The recording could not be stored; the appliance's log says "
                           "why.")]}
    return {}


def too_large_page(upload_endpoints: dict[str, tuple[str, str]]) -> Any:
    """The answer to a request past its size limit: an upload (``upload_endpoints``: its
    endpoint -> the page's endpoint and the URL argument naming it) goes back to its page,
    which says why beside the file field; anything else is the app's 413."""
    target = upload_endpoints.get(request.endpoint or "")
    value = (request.view_args or {}).get(target[1]) if target is not None else None
    if target is not None and value is not None:
        return redirect(url_for(target[0], **{target[1]: value}, upload="too-big",
                                _anchor=RECORDING))
    return render_template("error.html", code=413,
                           message=_("What was sent is too large.")), 413


# -- numbers ----------------------------------------------------------------------------------

def _number_values(num: Number | None, names: dict[int, str]) -> dict[str, str]:
    if num is None:
        return {"did": "", "connection": "", "destination": "hangup", "after_hours": "",
                "hours": "", "no_answer": "continue", "no_answer_connection": "",
                "ring_timeout": "20", "to_header": "on", "contacts_map": "on", "record": "",
                "rating": "",
                **_greeting_values(None)}
    return {"did": num.did, "connection": names.get(num.connection_id, ""),
            "destination": _dest_text(num.destination, names),
            "after_hours": _dest_text(num.after_hours, names), "hours": num.hours or "",
            "no_answer": num.no_answer,
            "no_answer_connection": "" if num.no_answer_connection is None
            else names.get(num.no_answer_connection, ""),
            "ring_timeout": str(num.ring_timeout),
            "to_header": "on" if num.to_header else "",
            "contacts_map": "on" if num.contacts_map else "",
            "record": "on" if num.record else "",
            "rating": "on" if num.rating else "",
            **_greeting_values(num.greeting)}


def _greeting_values(greeting: Greeting | None) -> dict[str, str]:
    """A number's greeting as the form's fields (None: a new number's, off)."""
    shown = greeting or Greeting(on=False)
    return {"greeting": "on" if shown.on else "", "greeting_language": shown.language,
            "greeting_text": shown.text or "", "greeting_wait": str(shown.wait)}


def _same(key: str, value: str, before: str) -> bool:
    """Whether a posted text is the one kept (a greeting text is kept on one line)."""
    if key == "greeting_text":
        return value.split() == before.split()
    return value == before


def _speak_greeting(errors: Errors, num: Number | None, fields: dict[str, Any]) -> bool:
    """Speak the greeting's own text these fields save, before they are saved (as the CLI
    does); False, with the error beside its field, when it is refused or cannot be spoken."""
    todo = _attempt(errors, lambda: plan_rules.greeting_to_speak(
        num.greeting if num is not None else None, fields), NUMBER_SHOWN)
    if errors:
        return False
    if todo is None:
        return True
    try:
        prompts.speak_or_refuse(*todo, prompts.folder_of(config().paths.data))
    except DirectoryError as exc:
        field = exc.field if exc.field in NUMBER_SHOWN else FORM
        errors.setdefault(field, []).append(
            _("The box cannot speak this text: %(reason)s", reason=plan_error(exc)))
        return False
    return True


def _number_form(num: Number | None, upload_errors: Errors | None = None) -> Any:
    """The number's page; a POST saves the form, but for ``upload_errors``: the page shown
    again with a refused recording's errors beside its file field."""
    plan = CallPlanDirectory(store())
    conns = plan.list_connections()
    names = {c.id: c.name for c in conns}
    errors: Errors = dict(upload_errors or {})
    before = _number_values(num, names)
    values = dict(before)
    if request.method == "POST" and upload_errors is None:
        values = {**_posted(("did", *NUMBER_TEXTS)),
                  **{k: request.form.get(k, "") for k in NUMBER_CHECKS}}
        fields: dict[str, Any] = {k: values[k] for k in NUMBER_TEXTS
                                  if num is None or not _same(k, values[k], before[k])}
        for key in NUMBER_CHECKS:
            if num is None or bool(values[key]) != bool(before[key]):
                fields[key] = bool(values[key])
        writer = _plan()
        if not _speak_greeting(errors, num, fields):
            done = None
        elif num is None:
            connection = fields.pop("connection")
            destination = fields.pop("destination") or "hangup"
            done = _attempt(errors, lambda: writer.add_number(values["did"], connection,
                                                              destination, **fields),
                            NUMBER_SHOWN)
        else:
            done = _attempt(errors, lambda: writer.update_number(num.did, **fields),
                            NUMBER_SHOWN)
        if done is not None:
            flash(_("Number %(did)s saved.", did=done.did), "success")
            return redirect(url_for("connections.index"))
    return page("number.html", num=num, values=values, errors=errors,
                connections=[(c.name, c.name) for c in conns],
                hours=[(h.name, h.name) for h in plan.list_hours()],
                no_answers=[(a, _(NO_ANSWER_LABELS[a])) for a in NO_ANSWER_ACTIONS],
                languages=[(code, LANGUAGES[code]) for code in plan_rules.GREETING_LANGUAGES],
                media_on=config().media.enabled, max_mb=MAX_MB,
                recording=recording_view(num.greeting.audio if num and num.greeting
                                         else None)), 400 if errors else 200


@bp.route("/numbers/new", methods=["GET", "POST"])
def number_new() -> Any:
    """Add an office number."""
    return _number_form(None)


@bp.route("/numbers/<did>", methods=["GET", "POST"])
def number_edit(did: str) -> Any:
    """Show and change an office number's routing (``?upload=too-big``: a greeting
    recording was refused for its size before it was read)."""
    num = _number(did)
    if request.method == "GET" and request.args.get("upload") == "too-big":
        return _number_form(num, too_big())
    return _number_form(num)


def _number(did: str) -> Number:
    try:
        return CallPlanDirectory(store()).get_number(did)
    except DirectoryError:
        abort(404)


@bp.post("/numbers/<did>/remove")
def number_remove(did: str) -> Any:
    """Remove an office number."""
    errors: Errors = {}
    _attempt(errors, lambda: _plan().remove_number(did))
    _flash_all(errors)
    if not errors:
        flash(_("Number %(did)s removed.", did=did), "success")
    return redirect(url_for("connections.index"))


@bp.post("/numbers/<did>/greeting-audio")
def number_upload_greeting(did: str) -> Any:
    """Check an uploaded MP3 (mono, at most 2 MB) and make it the number's greeting, played
    instead of the spoken one (audited as number.updated); a file refused says why beside
    the field and nothing is stored."""
    num = _number(did)
    errors = install_recording("greeting_audio", lambda name: _plan().update_number(
        num.did, greeting_audio=name))
    if errors:
        return _number_form(num, errors)
    flash(_("Callers of number %(did)s now hear the uploaded greeting.", did=num.did),
          "success")
    return redirect(url_for("connections.number_edit", did=num.did, _anchor=RECORDING))


@bp.post("/numbers/<did>/greeting-audio/remove")
def number_remove_greeting(did: str) -> Any:
    """Back to the spoken greeting (audited). The recording's file stays in the prompts
    folder: another menu or number may hold the same upload."""
    num = _number(did)
    if num.greeting is None or not num.greeting.audio:
        flash(_("Number %(did)s had no recording: its greeting is spoken.", did=num.did),
              "info")
    else:
        errors: Errors = {}
        if _attempt(errors, lambda: _plan().update_number(num.did, greeting_audio="")) is None:
            return _number_form(num, errors)
        flash(_("Number %(did)s speaks its greeting again.", did=num.did), "success")
    return redirect(url_for("connections.number_edit", did=num.did, _anchor=RECORDING))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Any:
    """A greeting recording past ``settings.UPLOAD_LIMIT`` is refused before it is read: back
    to the number, which says why beside the field."""
    return too_large_page({"connections.number_upload_greeting": ("connections.number_edit",
                                                                  "did")})
