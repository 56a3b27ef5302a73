"""Voicemail on the web page: the messages callers left (extension, employee, caller, when,
length, new or heard) and each active employee's box (taking messages or not, a PIN set or
not, an e-mail address, the built-in greeting's language, an own greeting uploaded as an
MP3). Admins play a message in the page or download it (a GET, so refused to viewers here:
403 as on the Calls page), each audited once (never its sound) and marking the message
heard; they delete messages and change boxes (the guard refuses a viewer's post; CSRF as
every form). Every change is checked by the directory: a bad value says why beside its
field and changes nothing. Only a file inside the voicemail folder is ever sent or
removed."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from appliance.directory import Employee
from appliance.directory.recordings import file_of
from appliance.directory.voicemail import (
    LANGUAGES,
    VoicemailBox,
    VoicemailDirectory,
    folder_of,
    greeting_path,
    message_file,
)
from appliance.errors import DirectoryError, NotFoundError, PromptError
from appliance.media import hold, prompts
from appliance.web.auditlog import LANGUAGE_NAMES
from appliance.web.common import Errors, config, directory, page, store, user
from appliance.web.i18n import N_, _
from appliance.web.messages import bare, matched, translate
from appliance.web.settings import MAX_MB, hold_error

bp = Blueprint("voicemail", __name__)
SHOWN = 500  # messages on the page, newest first

# The voicemail boxes' messages (appliance/directory/voicemail.py) in the user's language.
ERRORS: list[tuple[re.Pattern[str], str]] = [(re.compile(p + r"\Z", re.S), m) for p, m in [
    (r"(?P<low>\d+) to (?P<high>\d+) digits", N_("A PIN is %(low)s to %(high)s digits.")),
    (r"set a PIN or clear it, not both", N_("Type a new PIN or clear it, not both.")),
    (r"an e-mail address such as an@example\.com, got (?P<got>.*)",
     N_("An e-mail address such as an@example.com, got %(got)s.")),
]]


def message(exc: DirectoryError) -> str:
    """A voicemail error in the current language, without its field prefix."""
    return matched(bare(exc), ERRORS) or translate(exc)


def _boxes() -> VoicemailDirectory:
    return VoicemailDirectory(store(), actor=f"web:{user().username}")


def _folder() -> Path:
    return folder_of(config().paths.data)


def greeting_seconds(box: VoicemailBox) -> float | None:
    """The length of a box's own greeting, None when it has none or its file is unreadable."""
    own = file_of(_folder(), box.greeting) if box.greeting else None
    if own is None:
        return None
    try:
        return round(prompts.wav_seconds(own), 1)
    except (PromptError, OSError):
        return None


@bp.get("/voicemail")
def index() -> str:
    """The messages, newest first (``?employee=ID``: one employee's, a dismissed one's too),
    and the active employees' boxes."""
    vm = _boxes()
    people = {e.id: e for e in directory().list_employees()}
    chosen = request.args.get("employee", "").strip()[:12]
    wanted = int(chosen) if chosen.isdigit() and int(chosen) in people else None
    found = vm.messages()
    new = Counter(m.employee_id for m in found if not m.heard)
    old = Counter(m.employee_id for m in found if m.heard)
    shown = [m for m in found if wanted is None or m.employee_id == wanted]
    boxes = [(person, vm.box(person.id)) for person in people.values()
             if person.status == "active"]
    return page("voicemail.html", messages=shown[:SHOWN], total=len(shown), shown=SHOWN,
                people=people, boxes=boxes, new=new, old=old, wanted=wanted,
                languages=LANGUAGE_NAMES)


@bp.get("/voicemail/message/<int:message_id>")
def play(message_id: int) -> Any:
    """A message as WAV, for admins: played in the page (byte ranges served), or with
    ``?download=1`` as the file ``voicemail-<id>.wav``. Audited as played (once per listen:
    not for the later ranges a player asks for when seeking) or downloaded, and marked
    heard; 404 when the row or its file is gone, or its path leads outside the voicemail
    folder."""
    if not user().can_change:
        abort(403)
    vm = _boxes()
    try:
        found = vm.message(message_id)
    except DirectoryError:
        abort(404)
    path = message_file(_folder(), found)
    if path is None or not path.is_file():
        abort(404)
    download = request.args.get("download") == "1"
    try:
        response = send_file(path, mimetype="audio/wav", as_attachment=download,
                             download_name=f"voicemail-{found.id}.wav", conditional=True,
                             max_age=0)
    except OSError:  # removed in the meantime
        abort(404)
    response.headers["Cache-Control"] = "no-store"
    ranges = request.range.ranges if request.range is not None else []
    if request.method == "GET" and (download or not ranges or any(
            start == 0 for start, _end in ranges)):
        try:
            vm.listened(found.id, "downloaded" if download else "played")
            vm.mark_heard(found.id)
        except DirectoryError:
            response.close()
            abort(404)
    return response


@bp.post("/voicemail/message/<int:message_id>/remove")
def remove(message_id: int) -> Any:
    """Delete a message: its row (audited), then its file."""
    try:
        removed = _boxes().remove_message(message_id)
    except NotFoundError:
        flash(_("That message was deleted already."), "info")
        return redirect(url_for("voicemail.index"))
    file = message_file(_folder(), removed)
    if file is not None:
        try:
            file.unlink(missing_ok=True)
        except OSError:
            current_app.logger.exception("voicemail message %s: its file stays", removed.id)
    flash(_("The message from %(caller)s was deleted.", caller=removed.caller), "success")
    return redirect(url_for("voicemail.index"))


def _person(employee_id: int) -> Employee:
    try:
        return directory().get_employee(employee_id)
    except NotFoundError:
        abort(404)


def _render_box(person: Employee, errors: Errors, values: dict[str, Any] | None = None
                ) -> tuple[str, int]:
    vm = _boxes()
    box = vm.box(person.id)
    new, old = vm.counts(person.id)
    shown = {"enabled": box.enabled, "email": box.email or "", "language": box.language,
             **(values or {})}
    return page("voicemail_box.html", person=person, box=box, new=new, old=old,
                values=shown, errors=errors, languages=[(c, LANGUAGE_NAMES[c])
                                                        for c in LANGUAGES],
                seconds=greeting_seconds(box), max_mb=MAX_MB), 400 if errors else 200


@bp.get("/voicemail/box/<int:employee_id>")
def box(employee_id: int) -> tuple[str, int]:
    """An employee's box (``?upload=too-big``: a greeting upload was refused for its size
    before it was read)."""
    person = _person(employee_id)
    if request.args.get("upload") == "too-big":
        return _render_box(person, {"file": [_("The file is too large: at most %(max)s MB.",
                                               max=MAX_MB)]})
    return _render_box(person, {})


@bp.post("/voicemail/box/<int:employee_id>")
def save(employee_id: int) -> Any:
    """Keep a box's settings: on or off, a new PIN (blank: kept) or none, the e-mail
    address (blank: none), the built-in greeting's language."""
    person = _person(employee_id)
    form = request.form
    email = form.get("email", "").strip()[:300]
    pin = form.get("pin", "")[:40]
    try:
        _boxes().set_box(employee_id, enabled=form.get("enabled") == "on", pin=pin or None,
                         clear_pin=form.get("clear_pin") == "on", email=email or None,
                         clear_email=not email, language=form.get("language", "")[:8])
    except DirectoryError as exc:
        field = exc.field if exc.field in ("pin", "email", "language") else "_form"
        return _render_box(person, {field: [message(exc)]}, {
            "enabled": form.get("enabled") == "on", "email": email,
            "language": form.get("language", "")})
    flash(_("The voicemail box of %(name)s was saved.", name=person.name), "success")
    return redirect(url_for("voicemail.box", employee_id=employee_id))


@bp.post("/voicemail/box/<int:employee_id>/greeting")
def upload_greeting(employee_id: int) -> Any:
    """Check an uploaded MP3 (mono, at most 2 MB) and make it the box's own greeting
    (audited); a file refused says why beside the field and nothing is stored."""
    person = _person(employee_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_box(person, {"file": [_("Choose an MP3 file to upload.")]})
    if person.status != "active":
        return _render_box(person, {"_form": [_("Employee %(id)s is dismissed and cannot be "
                                                "changed.", id=person.id)]})
    data = upload.read()
    try:
        hold.check_upload(data)  # refused before anything is written
        own = _folder() / str(person.id)
        own.mkdir(parents=True, exist_ok=True, mode=0o700)
        hold.convert_upload(data, _folder() / greeting_path(person.id))
        _boxes().set_greeting(person.id, greeting_path(person.id))
    except DirectoryError as exc:
        return _render_box(person, {"file": [hold_error(exc)]})
    except OSError:
        current_app.logger.exception("the voicemail greeting upload could not be stored")
        return _render_box(person, {"file": [_("The greeting could not be stored; the "
                                               "appliance's log says why.")]})
    flash(_("Callers now hear the own greeting of %(name)s.", name=person.name), "success")
    return redirect(url_for("voicemail.box", employee_id=person.id, _anchor="greeting"))


@bp.post("/voicemail/box/<int:employee_id>/greeting/remove")
def remove_greeting(employee_id: int) -> Any:
    """Back to the built-in greeting (audited); the own greeting's file is removed."""
    person = _person(employee_id)
    vm = _boxes()
    try:
        before = vm.box(person.id)
        vm.set_greeting(person.id, None)
    except DirectoryError as exc:
        return _render_box(person, {"_form": [message(exc)]})
    own = file_of(_folder(), before.greeting) if before.greeting else None
    if own is not None:
        with contextlib.suppress(OSError):  # the built-in greeting plays already
            own.unlink(missing_ok=True)
    if before.greeting:
        flash(_("Callers hear the built-in greeting again."), "success")
    else:
        flash(_("There was no own greeting: the built-in one plays."), "info")
    return redirect(url_for("voicemail.box", employee_id=person.id, _anchor="greeting"))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Any:
    """A greeting upload past ``settings.UPLOAD_LIMIT`` is refused before it is read: back to the
    box, which says why beside the field."""
    employee_id = (request.view_args or {}).get("employee_id")
    if request.endpoint == "voicemail.upload_greeting" and employee_id is not None:
        return redirect(url_for("voicemail.box", employee_id=employee_id, upload="too-big",
                                _anchor="greeting"))
    return render_template("error.html", code=413,
                           message=_("What was sent is too large.")), 413
