"""The CLI's IVR menus: ``appliance menu add|edit|remove|list|show`` (a menu's text, spoken
by the box when it is saved, its language, whether callers may dial an extension, and what
happens after no key or an invalid one) and ``appliance menu key NAME KEY DESTINATION``
(``--remove``) for its keys (0-9, *). Registered on the ``appliance`` group by
``appliance/cli.py``.

The text is spoken (espeak-ng) before anything is saved, on ``add`` and when an ``edit``
changes the text or the language: a text the box cannot speak is refused with one line and
nothing stored. The change is checked in full first (in a transaction rolled back), so bad
input is refused before anything is spoken (``directory.menus.check_speak_save``, as the web
page saves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from appliance.callplan.model import Menu
from appliance.cli import _actor, _config, _emit, _store, config_option, json_option
from appliance.cli_calls import destination_text
from appliance.config import Config
from appliance.directory import plan_rules
from appliance.directory.menus import check_speak_save
from appliance.directory.office import CallPlanDirectory
from appliance.errors import ValidationError
from appliance.media import prompts
from appliance.media.uploads import install_prompt, read_upload

F = TypeVar("F", bound=Callable[..., Any])
MENU_COLUMNS = ("name", "language", "keys", "timeout_destination", "invalid_destination",
                "text")
_LIST_TEXT = 40  # characters of the text a listing shows


def register(cli: click.Group) -> None:
    """Add the ``menu`` group to the ``appliance`` group."""
    cli.add_command(menu)


def menu_row(found: Menu, names: dict[int, str]) -> dict[str, Any]:
    """Every field of a menu, destinations written as the options read them, keys in keypad
    order."""
    return {
        "name": found.name, "text": found.text, "language": found.language,
        "extensions": found.extensions, "timeout": found.timeout,
        "timeout_retries": found.timeout_retries,
        "timeout_destination": destination_text(found.timeout_destination, names),
        "invalid_retries": found.invalid_retries,
        "invalid_destination": destination_text(found.invalid_destination, names),
        "keys": {key: destination_text(dest, names) for key, dest in found.keys.items()},
        "audio": found.audio,
    }


def _plan(config: Config) -> CallPlanDirectory:
    return CallPlanDirectory(_store(config), actor=_actor())


def _names(plan: CallPlanDirectory) -> dict[int, str]:
    return {c.id: c.name for c in plan.list_connections()}


def _show(plan: CallPlanDirectory, name: str, as_json: bool) -> None:
    row = menu_row(plan.get_menu(name), _names(plan))
    if not as_json:  # one line per key: "key 1  queue:sales"
        keys = row.pop("keys")
        row.update({f"key {key}": dest for key, dest in keys.items()} or {"keys": None})
    _emit(row, as_json)


def _speaker(config: Config) -> Callable[[str, str], object]:
    """Speak a menu's text (espeak-ng) into the box's prompts folder."""
    folder = prompts.folder_of(config.paths.data)
    return lambda text, language: prompts.speak(text, language, folder)


# -- menu -------------------------------------------------------------------------------------

@click.group()
def menu() -> None:
    """IVR menus: add, edit, remove, list, show, and their keys."""


def _menu_options(func: F) -> F:
    """The options every menu field is set with (add and edit)."""
    options = [
        click.option("--language", metavar="|".join(plan_rules.GREETING_LANGUAGES),
                     help="The language the text is spoken in."),
        click.option("--extensions/--no-extensions", default=None,
                     help="Callers may dial an extension instead of a key."),
        click.option("--timeout", metavar="S",
                     help="Seconds to wait for a key after the text (1-30)."),
        click.option("--timeout-retries", metavar="N",
                     help="Times the menu is played again when no key comes (0-5)."),
        click.option("--timeout-destination", metavar="DESTINATION",
                     help="Where the call goes after them: extension:101, queue:sales, "
                          "menu:main, outside:0909123456[@connection] or hangup."),
        click.option("--invalid-retries", metavar="N",
                     help="Times the menu is played again after an invalid key (0-5)."),
        click.option("--invalid-destination", metavar="DESTINATION",
                     help="Where the call goes after them (as --timeout-destination)."),
        click.option("--audio", metavar="FILE.mp3", help="Play this recording instead of "
                     "the text spoken (MP3, mono, at most 2 MB; '' : the text again)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _fields(given: dict[str, Any], config: Config) -> dict[str, Any]:
    """The options given; a recording installed into the prompts folder first."""
    fields = {key: value for key, value in given.items() if value is not None}
    if fields.get("audio"):
        fields["audio"] = install_prompt(read_upload(fields["audio"], "audio"),
                                         prompts.folder_of(config.paths.data), "audio")
    return fields


@menu.command("add")
@click.argument("name")
@click.option("--text", required=True, help="What the box says, spoken when saved.")
@_menu_options
@config_option
@json_option
def menu_add(name: str, text: str, config_path: str | None, as_json: bool,
             **given: Any) -> None:
    """Add an IVR menu (defaults: en, extensions on, 5 s, 2 retries each, then hang up)."""
    config = _config(config_path)
    fields = _fields(given, config)
    plan = _plan(config)
    made = check_speak_save(plan, None, {**fields, "text": text}, _speaker(config),
                            lambda checked: checked.add_menu(name, text, **fields))
    _show(plan, made.name, as_json)


@menu.command("edit")
@click.argument("name")
@click.option("--text", help="What the box says, spoken when saved.")
@_menu_options
@config_option
@json_option
def menu_edit(name: str, config_path: str | None, as_json: bool, **given: Any) -> None:
    """Change a menu's fields (only those given)."""
    if all(value is None for value in given.values()):
        raise ValidationError("nothing to change: give at least one option")
    config = _config(config_path)
    fields = _fields(given, config)
    plan = _plan(config)
    current = plan.get_menu(name)
    changed = check_speak_save(plan, current, fields, _speaker(config),
                               lambda checked: checked.update_menu(name, **fields))
    _show(plan, changed.name, as_json)


@menu.command("key")
@click.argument("name")
@click.argument("key")
@click.argument("destination", required=False)
@click.option("--remove", is_flag=True, help="Take the key off the menu.")
@config_option
@json_option
def menu_key(name: str, key: str, destination: str | None, remove: bool,
             config_path: str | None, as_json: bool) -> None:
    """Send a key (0-9, *) to DESTINATION (extension:101, queue:sales, menu:sales-menu,
    outside:0909123456[@connection], hangup, or repeat: play the menu again), or --remove
    it."""
    if remove == (destination is not None):
        raise ValidationError("give the key's DESTINATION, or --remove")
    plan = _plan(_config(config_path))
    if remove:
        changed = plan.remove_menu_key(name, key)
    else:
        assert destination is not None
        changed = plan.set_menu_key(name, key, destination)
    _show(plan, changed.name, as_json)


@menu.command("remove")
@click.argument("name")
@config_option
def menu_remove(name: str, config_path: str | None) -> None:
    """Remove a menu no number, queue or other menu sends calls to."""
    plan = _plan(_config(config_path))
    plan.remove_menu(name)
    click.echo(f"menu {name.strip()} removed")


@menu.command("list")
@config_option
@json_option
def menu_list(config_path: str | None, as_json: bool) -> None:
    """List the menus."""
    plan = _plan(_config(config_path))
    names = _names(plan)
    rows = [menu_row(m, names) for m in plan.list_menus()]
    if not as_json:
        for row in rows:
            row["keys"] = [f"{k}={d}" for k, d in row["keys"].items()]
            if len(row["text"]) > _LIST_TEXT:
                row["text"] = row["text"][:_LIST_TEXT - 1] + "…"
    _emit(rows, as_json, MENU_COLUMNS)


@menu.command("show")
@click.argument("name")
@config_option
@json_option
def menu_show(name: str, config_path: str | None, as_json: bool) -> None:
    """Show every field of a menu and its keys."""
    _show(_plan(_config(config_path)), name, as_json)
