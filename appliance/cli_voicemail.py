"""The CLI's voicemail: ``appliance voicemail list|show|box|greeting|remove``. A box belongs
to the employee holding an extension now (``show 101`` is that employee's box, never an
earlier holder's); a dismissed employee's messages stay listed (``list --employee ID``).
An own greeting is an MP3 (mono, at most 2 MB) checked and converted once to 8 kHz mono
(``media/hold.py``), kept as ``<data>/voicemail/<employee_id>/greeting.wav``. Every refusal
is one line and changes nothing. Registered on the ``appliance`` group by
``appliance/cli.py``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from appliance.cli import _actor, _config, _emit, _store, config_option, json_option
from appliance.cli_recordings import _size
from appliance.config import Config
from appliance.directory import Directory, rules
from appliance.directory.recordings import file_of
from appliance.directory.voicemail import (
    LANGUAGES,
    VoicemailBox,
    VoicemailDirectory,
    VoicemailMessage,
    folder_of,
    greeting_path,
    message_file,
)
from appliance.errors import ConflictError, PromptError, ValidationError
from appliance.media import hold, prompts

MESSAGE_COLUMNS = ("id", "extension", "employee", "caller", "received_at", "seconds", "size",
                   "heard")


def register(cli: click.Group) -> None:
    """Add the ``voicemail`` group to the ``appliance`` group."""
    cli.add_command(voicemail)


def _open(config_path: str | None) -> tuple[Config, Directory, VoicemailDirectory]:
    config = _config(config_path)
    store = _store(config)
    return config, Directory(store, actor=_actor()), VoicemailDirectory(store, actor=_actor())


def _holder(directory: Directory, vm: VoicemailDirectory, number: str) -> VoicemailBox:
    """The box of the employee holding extension ``number`` now; refused when it is free."""
    ext = directory.get_extension(rules.extension_number(number, "extension"))
    box = vm.box_of_extension(ext.number)
    if box is None:
        raise ConflictError(f"extension {ext.number} is free: no employee's voicemail box is "
                            "there", "extension")
    return box


def message_row(msg: VoicemailMessage, names: dict[int, str], as_json: bool) -> dict[str, Any]:
    """A message as the CLI shows it (JSON: numbers as numbers, time in UTC)."""
    who = names.get(msg.employee_id)
    row: dict[str, Any] = {"id": msg.id, "extension": msg.extension,
                           "received_at": msg.received_at.isoformat(timespec="seconds")}
    if as_json:
        return {**row, "employee_id": msg.employee_id, "employee": who, "caller": msg.caller,
                "caller_name": msg.caller_name, "call_ref": msg.call_ref,
                "seconds": msg.seconds, "bytes": msg.bytes, "path": msg.path,
                "heard": msg.heard}
    caller = f"{msg.caller} ({msg.caller_name})" if msg.caller_name else msg.caller
    return {**row, "employee": f"{who} (#{msg.employee_id})" if who else f"#{msg.employee_id}",
            "caller": caller, "seconds": f"{msg.seconds:.0f}s", "size": _size(msg.bytes),
            "heard": "heard" if msg.heard else "new"}


def box_view(config: Config, directory: Directory, vm: VoicemailDirectory, box: VoicemailBox,
             as_json: bool) -> dict[str, Any]:
    """A box as ``show`` prints it: settings (never a PIN, only whether one is set) and
    its new and old messages."""
    person = directory.get_employee(box.employee_id)
    new, old = vm.counts(box.employee_id)
    own = file_of(folder_of(config.paths.data), box.greeting) if box.greeting else None
    seconds = None
    if own is not None:
        with contextlib.suppress(PromptError, OSError):
            seconds = round(prompts.wav_seconds(own), 1)
    view: dict[str, Any] = {"extension": person.extension, "employee_id": person.id,
                            "employee": person.name, "enabled": box.enabled}
    if as_json:
        return {**view, "has_pin": box.has_pin, "email": box.email, "language": box.language,
                "greeting": "own" if box.greeting else "built-in",
                "greeting_seconds": seconds, "new": new, "old": old}
    greeting = "built-in" if not box.greeting else \
        f"own ({seconds} s)" if seconds is not None else "own (its file is missing)"
    return {**view, "enabled": "yes" if box.enabled else "no",
            "pin": "set" if box.has_pin else "not set", "email": box.email,
            "language": box.language, "greeting": greeting, "new": new, "old": old}


@click.group()
def voicemail() -> None:
    """Voicemail boxes (one per employee) and their messages."""


@voicemail.command("list")
@click.option("--extension", "number", help="Only the messages of the employee holding it now.")
@click.option("--employee", "employee_id", type=click.IntRange(1), help="Only this employee's "
              "messages (a dismissed one's too).")
@config_option
@json_option
def voicemail_list(number: str | None, employee_id: int | None, config_path: str | None,
                   as_json: bool) -> None:
    """The messages, newest first."""
    _, directory, vm = _open(config_path)
    if number is not None:
        _holder(directory, vm, number)
    found = vm.messages(employee_id, extension=number)
    names = {e.id: e.name for e in directory.list_employees()}
    _emit([message_row(m, names, as_json) for m in found], as_json, MESSAGE_COLUMNS)


@voicemail.command("show")
@click.argument("number")
@config_option
@json_option
def voicemail_show(number: str, config_path: str | None, as_json: bool) -> None:
    """The box of the employee holding extension NUMBER."""
    config, directory, vm = _open(config_path)
    _emit(box_view(config, directory, vm, _holder(directory, vm, number), as_json), as_json)


@voicemail.command("box")
@click.argument("number")
@click.option("--on/--off", "enabled", default=None, help="Take messages, or not.")
@click.option("--pin", help="A new PIN: 4 to 8 digits (to listen from the phone).")
@click.option("--no-pin", "clear_pin", is_flag=True, help="No PIN: the box cannot be opened "
              "from a phone.")
@click.option("--email", help="An e-mail address for the box.")
@click.option("--no-email", "clear_email", is_flag=True, help="No e-mail address.")
@click.option("--language", type=click.Choice(LANGUAGES), help="The built-in greeting's "
              "language.")
@config_option
@json_option
def voicemail_box(number: str, enabled: bool | None, pin: str | None, clear_pin: bool,
                  email: str | None, clear_email: bool, language: str | None,
                  config_path: str | None, as_json: bool) -> None:
    """Change the box of the employee holding extension NUMBER (audited, never the PIN)."""
    config, directory, vm = _open(config_path)
    box = _holder(directory, vm, number)
    changed = vm.set_box(box.employee_id, enabled=enabled, pin=pin, clear_pin=clear_pin,
                         email=email, clear_email=clear_email, language=language)
    _emit(box_view(config, directory, vm, changed, as_json), as_json)


@voicemail.command("greeting")
@click.argument("number")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--remove", is_flag=True, help="Back to the built-in greeting.")
@config_option
@json_option
def voicemail_greeting(number: str, file: Path | None, remove: bool, config_path: str | None,
                       as_json: bool) -> None:
    """Make an MP3 (mono, at most 2 MB) the own greeting of the box of extension NUMBER, or
    --remove it."""
    if (file is None) == (not remove):
        raise ValidationError("file: give an MP3 FILE, or --remove (not both)", "file")
    config, directory, vm = _open(config_path)
    box = _holder(directory, vm, number)
    folder = folder_of(config.paths.data)
    if remove:
        if box.greeting is None:
            raise ConflictError(f"extension {number.strip()}: the box has no own greeting; the "
                                "built-in one plays")
        changed = vm.set_greeting(box.employee_id, None)
        old = file_of(folder, box.greeting)
        if old is not None:
            with contextlib.suppress(OSError):  # the box plays the built-in one already
                old.unlink(missing_ok=True)
    else:
        assert file is not None
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ValidationError(f"file: cannot read {file.name}: {exc.strerror}",
                                  "file") from None
        hold.check_upload(data)  # refused before anything is written
        own = folder / str(box.employee_id)
        own.mkdir(parents=True, exist_ok=True, mode=0o700)
        hold.convert_upload(data, folder / greeting_path(box.employee_id))
        changed = vm.set_greeting(box.employee_id, greeting_path(box.employee_id))
    _emit(box_view(config, directory, vm, changed, as_json), as_json)


@voicemail.command("remove")
@click.argument("message_id", type=click.IntRange(1))
@config_option
def voicemail_remove(message_id: int, config_path: str | None) -> None:
    """Delete message MESSAGE_ID (its row and its file; audited)."""
    config, _, vm = _open(config_path)
    removed = vm.remove_message(message_id)
    file = message_file(folder_of(config.paths.data), removed)
    if file is None:
        click.echo(f"voicemail message {removed.id} removed; its path {removed.path!r} is "
                   "outside the voicemail folder, nothing there was touched")
        return
    file.unlink(missing_ok=True)
    click.echo(f"voicemail message {removed.id} removed ({removed.path})")
