"""Voice menus (IVR) on the web page: the menus listed with their keys, added, edited and
removed by an admin. A menu's text is spoken by the box (espeak-ng) when it is saved, the
whole change checked first and nothing stored when the text cannot be spoken
(``directory.menus.check_speak_save``, as the CLI saves). Only the fields and keys changed
are saved, so the audit log names just those; an error is shown beside the field or the key
that made it. An existing menu may play an uploaded MP3 recording instead of its text spoken
(the "Recorded prompt" card, as a number's greeting in web/connections.py): a refused file
says why beside its field and nothing is stored. Viewers only look (the guard refuses their
posts)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from appliance.callplan.model import Menu
from appliance.directory import Directory, plan_rules
from appliance.directory.menus import MENU_DEFAULTS, check_speak_save
from appliance.directory.office import CallPlanDirectory
from appliance.errors import DirectoryError, PromptError
from appliance.media import prompts
from appliance.web.common import FORM, Errors, config, page, store
from appliance.web.connections import (
    RECORDING,
    _dest_text,
    _flash_all,
    _plan,
    _posted,
    connection_names,
    install_recording,
    plan_error,
    recording_view,
    too_big,
    too_large_page,
)
from appliance.web.i18n import LANGUAGES, N_, _
from appliance.web.messages import bare, matched
from appliance.web.settings import MAX_MB

bp = Blueprint("menus", __name__)

KEYS = plan_rules.MENU_KEYS  # keypad order: 1-9, 0, *
DESTINATIONS = ("timeout_destination", "invalid_destination")
TEXTS = ("text", "language", "timeout", "timeout_retries", "timeout_destination",
         "invalid_retries", "invalid_destination")
SHOWN_TEXT = 60  # characters of a menu's text the list shows

# The menus' own error messages (appliance/directory/menus.py, plan_rules.py) in the user's
# language; the others are the call plan's (web/connections.py).
MENU_ERRORS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"a menu named (?P<name>'.*') exists", N_("A voice menu named %(name)s exists.")),
    (r"1 to (?P<n>\d+) printable characters", N_("Use 1 to %(n)s printable characters.")),
    (r"repeat takes no target", N_("Play the menu again takes no target.")),
    (r"menu (?P<name>'.*') has no key (?P<key>.)",
     N_("Voice menu %(name)s has no key %(key)s.")),
]]


def key_field(key: str) -> str:
    """The form field of a menu key (``key_1`` ... ``key_0``, ``key_star``)."""
    return "key_star" if key == "*" else f"key_{key}"


KEY_FIELDS = tuple(key_field(k) for k in KEYS)
SHOWN = ("name", "extensions", *TEXTS, *KEY_FIELDS)  # the fields errors are shown beside


def menu_error(exc: DirectoryError) -> str:
    """A menu error in the user's language, without its field prefix."""
    return matched(bare(exc), MENU_ERRORS) or plan_error(exc)


def _beside(exc: DirectoryError, field: str) -> DirectoryError:
    """The same refusal, shown beside ``field`` (the key or destination that made it)."""
    return type(exc)(f"{field}: {bare(exc)}", field)


def _step(field: str | None, change: Callable[..., object], *args: Any, **kwargs: Any
          ) -> None:
    """One part of a change, ``change(*args, **kwargs)``; its refusal shown beside ``field``
    when given."""
    try:
        change(*args, **kwargs)
    except DirectoryError as exc:
        if field is None or exc.field == field:
            raise
        raise _beside(exc, field) from exc


# -- the list ---------------------------------------------------------------------------------

@bp.get("/menus")
def index() -> str:
    """Every voice menu with its keys."""
    return page("menus.html", menus=CallPlanDirectory(store()).list_menus(),
                names=connection_names(), dest=_dest_text, languages=LANGUAGES,
                shown_text=SHOWN_TEXT)


# -- a menu's form ----------------------------------------------------------------------------

def _values(found: Menu | None) -> dict[str, str]:
    """The form's fields as text, a key's destination empty when the menu has none."""
    if found is None:
        d = MENU_DEFAULTS
        return {"name": "", "text": "", "language": d["language"],
                "extensions": "on" if d["extensions"] else "", "timeout": str(d["timeout"]),
                "timeout_retries": str(d["timeout_retries"]),
                "timeout_destination": d["timeout_destination"],
                "invalid_retries": str(d["invalid_retries"]),
                "invalid_destination": d["invalid_destination"],
                **{f: "" for f in KEY_FIELDS}}
    names = connection_names()
    return {"name": found.name, "text": found.text, "language": found.language,
            "extensions": "on" if found.extensions else "", "timeout": str(found.timeout),
            "timeout_retries": str(found.timeout_retries),
            "timeout_destination": _dest_text(found.timeout_destination, names),
            "invalid_retries": str(found.invalid_retries),
            "invalid_destination": _dest_text(found.invalid_destination, names),
            **{key_field(k): _dest_text(found.keys[k], names) if k in found.keys else ""
               for k in KEYS}}


def _changed(values: dict[str, str], before: dict[str, str], new: bool
             ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The menu fields that differ from ``before`` (all of them for a new menu), the keys to
    set (key -> destination) and the keys to take off."""
    fields: dict[str, Any] = {}
    for key in TEXTS:
        same = (values[key].split() == before[key].split() if key == "text"
                else values[key] == before[key])
        if new or not same:
            fields[key] = values[key]
    if new or bool(values["extensions"]) != bool(before["extensions"]):
        fields["extensions"] = bool(values["extensions"])
    chosen: dict[str, str] = {}
    dropped: list[str] = []
    for key in KEYS:
        posted, kept = values[key_field(key)], before[key_field(key)]
        if posted == kept:
            continue
        if posted:
            chosen[key] = posted
        else:
            dropped.append(key)
    return fields, chosen, dropped


def _checked_add(name: str, fields: dict[str, Any], chosen: dict[str, str]
                 ) -> Callable[[CallPlanDirectory], object]:
    """A new menu's change in parts, so that a refusal is shown beside the destination or
    key that made it (the parts end where the one ``add_menu`` of the save does)."""
    plain = {k: v for k, v in fields.items() if k not in ("text", *DESTINATIONS)}

    def check(plan: CallPlanDirectory) -> None:
        made = plan.add_menu(name, fields.get("text", ""), **plain)
        for field in DESTINATIONS:
            _step(field, plan.update_menu, made.name, **{field: fields[field]})
        for key, dest in chosen.items():
            _step(key_field(key), plan.set_menu_key, made.name, key, dest)
    return check


def _edit(found: Menu, fields: dict[str, Any], chosen: dict[str, str], dropped: list[str],
          parts: bool) -> Callable[[CallPlanDirectory], Menu]:
    """The change of a menu: the keys taken off, the fields changed (one update, in parts
    when checking so that a routing cycle is shown beside the destination that made it),
    the keys set."""
    plain = {k: v for k, v in fields.items() if not (parts and k in DESTINATIONS)}

    def change(plan: CallPlanDirectory) -> Menu:
        for key in dropped:
            _step(key_field(key), plan.remove_menu_key, found.name, key)
        if plain:
            plan.update_menu(found.name, **plain)
        for field in DESTINATIONS:
            if parts and field in fields:
                _step(field, plan.update_menu, found.name, **{field: fields[field]})
        for key, dest in chosen.items():
            _step(key_field(key), plan.set_menu_key, found.name, key, dest)
        return plan.get_menu(found.name)
    return change


def _speak(text: str, language: str) -> object:
    """Speak a menu's text (espeak-ng) into the box's prompts folder."""
    return prompts.speak(text, language, prompts.folder_of(config().paths.data))


def _save(errors: Errors, found: Menu | None, values: dict[str, str],
          before: dict[str, str]) -> Menu | None:
    """Check, speak and save the form's changes; None, with the error beside its field or
    key, when refused."""
    fields, chosen, dropped = _changed(values, before, found is None)
    plan = _plan()
    try:
        if found is None:
            rest = {k: v for k, v in fields.items() if k != "text"}
            return check_speak_save(
                plan, None, fields, _speak,
                lambda d: d.add_menu(values["name"], fields["text"], keys=chosen, **rest),
                _checked_add(values["name"], fields, chosen))
        return check_speak_save(plan, found, fields, _speak,
                                _edit(found, fields, chosen, dropped, parts=False),
                                _edit(found, fields, chosen, dropped, parts=True))
    except DirectoryError as exc:
        field = exc.field if exc.field in SHOWN else FORM
        message = menu_error(exc)
        if isinstance(exc.__cause__, PromptError):
            message = _("The box cannot speak this text: %(reason)s", reason=message)
        errors.setdefault(field, []).append(message)
        return None


def _choices(found: Menu | None) -> dict[str, list[tuple[str, str]]]:
    """The destinations the form suggests (a key's also ``repeat``), each with a label."""
    plan = CallPlanDirectory(store())
    people = Directory(store())
    holders = {e.id: e.name for e in people.list_employees("active")}
    places = [("hangup", _("Hang up"))]
    places += [(f"extension:{x.number}", holders.get(x.employee_id or 0, ""))
               for x in people.list_extensions()]
    places += [(f"voicemail:{x.number}", _("Voicemail")) for x in people.list_extensions()
               if x.employee_id is not None]
    places += [(f"queue:{q.name}", _("Queue")) for q in plan.list_queues()]
    places += [(f"menu:{m.name}", _("Voice menu")) for m in plan.list_menus()
               if found is None or m.name != found.name]
    return {"destinations": places,
            "key_destinations": [("repeat", _("Play the menu again")), *places]}


def _form(found: Menu | None, upload_errors: Errors | None = None) -> Any:
    """The menu's page; a POST saves the form, but for ``upload_errors``: the page shown
    again with a refused recording's errors beside its file field."""
    errors: Errors = dict(upload_errors or {})
    before = _values(found)
    values = dict(before)
    if request.method == "POST" and upload_errors is None:
        values = {**_posted(("name", *TEXTS, *KEY_FIELDS)),
                  "extensions": request.form.get("extensions", "")}
        if found is not None:
            values["name"] = found.name
        done = _save(errors, found, values, before)
        if done is not None:
            flash(_("Voice menu %(name)s saved.", name=done.name), "success")
            return redirect(url_for("menus.index"))
    keys = [(k, key_field(k)) for k in KEYS]
    languages = [(code, LANGUAGES[code]) for code in plan_rules.GREETING_LANGUAGES]
    return page("menu.html", menu=found, values=values, errors=errors, keys=keys,
                languages=languages, media_on=config().media.enabled, max_mb=MAX_MB,
                recording=recording_view(found.audio if found else None),
                **_choices(found)), 400 if errors else 200


@bp.route("/menus/new", methods=["GET", "POST"])
def new() -> Any:
    """Add a voice menu (its text spoken when saved)."""
    return _form(None)


@bp.route("/menus/<name>", methods=["GET", "POST"])
def edit(name: str) -> Any:
    """Show and change a voice menu and its keys (``?upload=too-big``: a recording was
    refused for its size before it was read)."""
    found = _menu(name)
    if request.method == "GET" and request.args.get("upload") == "too-big":
        return _form(found, too_big())
    return _form(found)


def _menu(name: str) -> Menu:
    try:
        return CallPlanDirectory(store()).get_menu(name)
    except DirectoryError:
        abort(404)


@bp.post("/menus/<name>/remove")
def remove(name: str) -> Any:
    """Remove a voice menu no number, queue or other menu sends calls to."""
    errors: Errors = {}
    try:
        _plan().remove_menu(name)
    except DirectoryError as exc:
        errors.setdefault(FORM, []).append(menu_error(exc))
    _flash_all(errors)
    if not errors:
        flash(_("Voice menu %(name)s removed.", name=name), "success")
    return redirect(url_for("menus.index"))


@bp.post("/menus/<name>/audio")
def upload_audio(name: str) -> Any:
    """Check an uploaded MP3 (mono, at most 2 MB) and play it instead of the menu's text
    spoken (audited as menu.updated); a file refused says why beside the field and nothing
    is stored."""
    found = _menu(name)
    errors = install_recording("audio", lambda audio: _plan().update_menu(
        found.name, audio=audio), menu_error)
    if errors:
        return _form(found, errors)
    flash(_("Callers of voice menu %(name)s now hear the uploaded recording.",
            name=found.name), "success")
    return redirect(url_for("menus.edit", name=found.name, _anchor=RECORDING))


@bp.post("/menus/<name>/audio/remove")
def remove_audio(name: str) -> Any:
    """Back to the menu's text spoken (audited). The recording's file stays in the prompts
    folder: another menu or number may hold the same upload."""
    found = _menu(name)
    if not found.audio:
        flash(_("Voice menu %(name)s had no recording: its text is spoken.", name=found.name),
              "info")
    else:
        try:
            _plan().update_menu(found.name, audio="")
        except DirectoryError as exc:
            return _form(found, {FORM: [menu_error(exc)]})
        flash(_("Voice menu %(name)s speaks its text again.", name=found.name), "success")
    return redirect(url_for("menus.edit", name=found.name, _anchor=RECORDING))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Any:
    """A recording past ``settings.UPLOAD_LIMIT`` is refused before it is read: back to the
    menu, which says why beside the field."""
    return too_large_page({"menus.upload_audio": ("menus.edit", "name")})
