"""The CLI's call plan commands: ``appliance trunk add|edit|remove|list|show`` (the office's
connections, with their live registration status) and ``appliance number
add|edit|remove|list|show`` (office numbers and their routing). Registered on the
``appliance`` group by ``appliance/cli.py``.

A connection's password is read from standard input (``--password-stdin``) or a prompt,
and never printed: ``show`` says only whether one is set.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click

from appliance.callplan.model import (
    CONNECTION_KINDS,
    NO_ANSWER_ACTIONS,
    NUMBER_FORMATS,
    Connection,
    Destination,
    Number,
)
from appliance.cli import _actor, _config, _emit, _store, config_option, json_option
from appliance.config import Config
from appliance.directory import plan_rules, trunk_status
from appliance.directory.office import CallPlanDirectory
from appliance.directory.trunk_status import ConnectionStatus
from appliance.errors import ValidationError
from appliance.media import prompts
from appliance.media.uploads import install_prompt, read_upload
from appliance.store import Store
from appliance.store.bound import one_transaction

F = TypeVar("F", bound=Callable[..., Any])
TRUNK_COLUMNS = ("name", "kind", "servers", "dids", "default", "prefix", "status")
NUMBER_COLUMNS = ("did", "connection", "destination", "after_hours", "hours", "no_answer")


def register(cli: click.Group) -> None:
    """Add the ``trunk`` and ``number`` groups to the ``appliance`` group."""
    cli.add_command(trunk)
    cli.add_command(number)


def _plan(config_path: str | None) -> CallPlanDirectory:
    return CallPlanDirectory(_store(_config(config_path)), actor=_actor())


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Connection password", hide_input=True,
                            confirmation_prompt=True))


# -- how records are shown --------------------------------------------------------------------

def server_text(host: str, port: int, transport: str) -> str:
    """A server as ``--server`` reads it: ``host:port;transport=udp`` (port 0, a name found
    by DNS SRV: ``host;transport=udp``)."""
    where = f"[{host}]" if ":" in host else host
    return f"{where}{f':{port}' if port else ''};transport={transport}"


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def status_line(conn: Connection, status: ConnectionStatus | None) -> str:
    """The live status in a few words: ``registered``, ``failing: 401 Unauthorized since …``."""
    if conn.kind != "register":
        return "ip (no registration)"
    if status is None:
        return "not running (the daemon's SIP part has not started it)"
    if status.state == "registered":
        return f"registered until {_time(status.expires_at)}"
    if status.state == "failing":
        return f"failing: {status.last_answer or '?'} since {_time(status.since)}"
    return f"{status.state} since {_time(status.since)}"


def connection_row(conn: Connection, status: ConnectionStatus | None) -> dict[str, Any]:
    """Every field of a connection (the password only as whether it is set) and its status."""
    return {
        "name": conn.name, "kind": conn.kind,
        "servers": [server_text(s.host, s.port, s.transport) for s in conn.servers],
        "username": conn.username, "auth_username": conn.auth_username,
        "domain": conn.domain, "expires": conn.expires,
        "password_set": bool(conn.password), "allowed_sources": list(conn.allowed_sources),
        "dids": list(conn.dids), "caller_id": conn.caller_id,
        "number_format": conn.number_format, "max_calls": conn.max_calls,
        "codecs": list(conn.codecs), "allowed_extensions": sorted(conn.allowed_extensions),
        "allowed_groups": sorted(conn.allowed_groups), "prefix": conn.prefix,
        "default": conn.default, "status": status_line(conn, status),
        "registration": None if status is None else status.as_dict(),
    }


def destination_text(dest: Destination | None, names: dict[int, str]) -> str | None:
    """A destination as ``--destination`` reads it (``outside:+84…@connection``)."""
    if dest is None:
        return None
    via = names.get(dest.connection_id) if dest.connection_id is not None else None
    return plan_rules.destination_text(dest, via)


def number_row(num: Number, names: dict[int, str]) -> dict[str, Any]:
    """Every field of an office number, connections by name."""
    greeting = num.greeting
    return {
        "did": num.did, "connection": names.get(num.connection_id),
        "destination": destination_text(num.destination, names),
        "to_header": num.to_header, "contacts_map": num.contacts_map,
        "after_hours": destination_text(num.after_hours, names), "hours": num.hours,
        "no_answer": num.no_answer,
        "no_answer_connection": None if num.no_answer_connection is None
        else names.get(num.no_answer_connection),
        "ring_timeout": num.ring_timeout,
        "greeting": greeting is not None and greeting.on,
        "greeting_language": greeting.language if greeting else "en",
        "greeting_text": greeting.text if greeting else None,
        "greeting_wait": greeting.wait if greeting else 5,
        "greeting_audio": greeting.audio if greeting else None,
        "record": num.record, "rating": num.rating,
    }


# -- trunk ------------------------------------------------------------------------------------

@click.group()
def trunk() -> None:
    """The office's connections (SIP trunks, PBXs): add, edit, remove, list, show."""


def _connection_options(func: F) -> F:
    """The options every connection field is set with (add and edit)."""
    options = [
        click.option("--server", "servers", multiple=True, metavar="HOST[:PORT][;transport=T]",
                     help="A server, in failover order (repeat; T is udp, tcp or tls)."),
        click.option("--username", help="The user name it registers and calls as."),
        click.option("--auth-username", help="The digest user name, if not the username."),
        click.option("--domain", help="The domain of the AOR (default: the first server)."),
        click.option("--expires", help="Seconds a registration is asked for (60-86400)."),
        click.option("--password-stdin", is_flag=True,
                     help="Read the password from standard input."),
        click.option("--source", "sources", multiple=True, metavar="ADDRESS[/BITS]",
                     help="An address or subnet calls are accepted from (kind ip; repeat)."),
        click.option("--caller-id", help="The office number presented on calls out."),
        click.option("--number-format", type=click.Choice(NUMBER_FORMATS),
                     help="How it wants numbers written: +84…, 84… or 0…"),
        click.option("--max-calls", help="Calls at once through it (0: no limit)."),
        click.option("--codec", "codecs", multiple=True, help="A codec, preferred first."),
        click.option("--allow-ext", "allowed_extensions", multiple=True,
                     help="An extension that may call out through it (repeat)."),
        click.option("--allow-group", "allowed_groups", multiple=True,
                     help="A number group that may call out through it (repeat)."),
        click.option("--prefix", help="Dialled before a number to choose it (*123* or 802)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _fields(given: dict[str, Any], editing: bool) -> dict[str, Any]:
    """The directory fields of the options given; a list option given once as '' clears."""
    fields: dict[str, Any] = {}
    for key in ("username", "auth_username", "domain", "expires", "caller_id",
                "number_format", "max_calls", "prefix"):
        value = given.get(key)
        if value is not None:
            fields[key] = value if value != "" or not editing else None
    for key in ("servers", "sources", "codecs", "allowed_extensions", "allowed_groups"):
        values: Sequence[str] = given.get(key) or ()
        if values:
            chosen = [] if list(values) == [""] else list(values)
            fields["allowed_sources" if key == "sources" else key] = chosen
    return fields


def _show(plan: CallPlanDirectory, name: str, as_json: bool) -> None:
    conn = plan.get_connection(name)
    row = connection_row(conn, trunk_status.read(plan.store).get(conn.name))
    if not as_json:
        registration = row.pop("registration") or {}
        for key in ("server", "last_answer", "since", "expires_at", "next_at", "updated_at"):
            row[f"status_{key}"] = registration.get(key)
    _emit(row, as_json)


@trunk.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(CONNECTION_KINDS), default="register",
              show_default=True, help="register: the box registers; ip: by address.")
@_connection_options
@click.option("--did", "dids", multiple=True,
              help="An office number it carries (repeat); routed by 'number edit'.")
@click.option("--default", "default", is_flag=True, help="Calls out go through it.")
@config_option
@json_option
def trunk_add(name: str, kind: str, password_stdin: bool, dids: tuple[str, ...],
              default: bool, config_path: str | None, as_json: bool, **given: Any) -> None:
    """Add a connection (a register one asks for its password), and its office numbers."""
    fields = _fields(given, editing=False)
    if default:
        fields["default"] = True
    if kind == "register":
        fields["password"] = _read_password(password_stdin)
    store = _store(_config(config_path))
    with one_transaction(store, keep=lambda: True) as bound:
        plan = CallPlanDirectory(bound, actor=_actor())
        plan.add_connection(name, kind, fields.pop("servers", ()), **fields)
        for did in dids:
            plan.add_number(did, name, "hangup")
    _show(CallPlanDirectory(store, actor=_actor()), name, as_json)


@trunk.command("edit")
@click.argument("name")
@click.option("--kind", type=click.Choice(CONNECTION_KINDS))
@_connection_options
@click.option("--new-password", is_flag=True, help="Prompt for a new password.")
@click.option("--default", "default", is_flag=True, help="Make it the default for calls out.")
@config_option
@json_option
def trunk_edit(name: str, kind: str | None, password_stdin: bool, new_password: bool,
               default: bool, config_path: str | None, as_json: bool, **given: Any) -> None:
    """Change a connection's fields (a list option given once as '' empties that list)."""
    fields = _fields(given, editing=True)
    if kind is not None:
        fields["kind"] = kind
    if default:
        fields["default"] = True
    if password_stdin or new_password:
        fields["password"] = _read_password(password_stdin)
    if not fields:
        raise ValidationError("nothing to change: give at least one option")
    plan = _plan(config_path)
    plan.update_connection(name, **fields)
    _show(plan, name, as_json)


@trunk.command("remove")
@click.argument("name")
@config_option
def trunk_remove(name: str, config_path: str | None) -> None:
    """Remove a connection no number or queue uses; the daemon un-registers it."""
    plan = _plan(config_path)
    plan.remove_connection(name)
    click.echo(f"connection {name.strip()} removed")


@trunk.command("list")
@config_option
@json_option
def trunk_list(config_path: str | None, as_json: bool) -> None:
    """List the connections with their live status."""
    plan = _plan(config_path)
    statuses = trunk_status.read(plan.store)
    rows = [connection_row(c, statuses.get(c.name)) for c in plan.list_connections()]
    _emit(rows, as_json, TRUNK_COLUMNS)


@trunk.command("show")
@click.argument("name")
@config_option
@json_option
def trunk_show(name: str, config_path: str | None, as_json: bool) -> None:
    """Show every field of a connection and its live registration status."""
    _show(_plan(config_path), name, as_json)


# -- number -----------------------------------------------------------------------------------

@click.group()
def number() -> None:
    """The office's numbers (DIDs) and how their calls are routed."""


def _number_options(func: F) -> F:
    options = [
        click.option("--destination", help="extension:101, queue:sales, "
                     "outside:0909123456[@connection] or hangup."),
        click.option("--to-header/--no-to-header", default=None,
                     help="Ring the extension named in the To header first."),
        click.option("--contacts-map/--no-contacts-map", default=None,
                     help="Ring the employee a known caller belongs to."),
        click.option("--after-hours", help="Where calls go when closed ('' for none)."),
        click.option("--hours", help="The working hours it follows ('' for always open)."),
        click.option("--no-answer", type=click.Choice(NO_ANSWER_ACTIONS),
                     help="After ringing a person: continue, their mobile, or their "
                     "voicemail."),
        click.option("--no-answer-connection", help="The connection the mobile is rung "
                     "through ('' for the number's own)."),
        click.option("--ring-timeout", help="Seconds a person rings (5-600)."),
        click.option("--greeting/--no-greeting", default=None,
                     help="Answer the calls with a greeting callers may dial an extension in."),
        click.option("--greeting-language", type=click.Choice(plan_rules.GREETING_LANGUAGES),
                     help="The greeting's language (the built-in text's, or the voice of your "
                     "own)."),
        click.option("--greeting-text", help="The greeting's own text, spoken by the box "
                     "('' for the built-in greeting)."),
        click.option("--greeting-wait", help="Seconds callers have to dial after it (1-30)."),
        click.option("--greeting-audio", metavar="FILE.mp3", help="Play this recording as the "
                     "greeting (MP3, mono, at most 2 MB; '' : speak the text again)."),
        click.option("--record/--no-record", default=None, help="Record its calls (callers "
                     "first hear that the call is recorded)."),
        click.option("--rating/--no-rating", default=None, help="Ask callers to rate the call "
                     "(1-5) once the employee hung up."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _number_fields(given: dict[str, Any], config: Config | None = None) -> dict[str, Any]:
    """The options given; a greeting recording installed into the prompts folder first."""
    fields = {key: value for key, value in given.items() if value is not None}
    audio = fields.get("greeting_audio")
    if audio and config is not None:
        fields["greeting_audio"] = install_prompt(read_upload(audio, "greeting_audio"),
                                                  prompts.folder_of(config.paths.data),
                                                  "greeting_audio")
    return fields


def _number_show(store: Store, did: str, as_json: bool) -> None:
    plan = CallPlanDirectory(store, actor=_actor())
    names = {c.id: c.name for c in plan.list_connections()}
    _emit(number_row(plan.get_number(did), names), as_json)


@number.command("add")
@click.argument("did")
@click.option("--connection", required=True, help="The connection that carries it.")
@_number_options
@config_option
@json_option
def number_add(did: str, connection: str, destination: str | None, config_path: str | None,
               as_json: bool, **given: Any) -> None:
    """Add an office number on a connection and route it."""
    config = _config(config_path)
    plan = CallPlanDirectory(_store(config), actor=_actor())
    fields = _number_fields(given, config)
    _speak_greeting(config, None, fields)
    made = plan.add_number(did, connection, destination or "hangup", **fields)
    _number_show(plan.store, made.did, as_json)


@number.command("edit")
@click.argument("did")
@click.option("--connection", help="Move it to another connection.")
@_number_options
@config_option
@json_option
def number_edit(did: str, config_path: str | None, as_json: bool, **given: Any) -> None:
    """Change an office number's routing."""
    if all(value is None for value in given.values()):
        raise ValidationError("nothing to change: give at least one option")
    config = _config(config_path)
    fields = _number_fields(given, config)
    plan = CallPlanDirectory(_store(config), actor=_actor())
    _speak_greeting(config, plan.get_number(did), fields)
    changed = plan.update_number(did, **fields)
    _number_show(plan.store, changed.did, as_json)


def _speak_greeting(config: Config, current: Number | None, fields: dict[str, Any]) -> None:
    """A greeting's own text is spoken when it is saved: a text the box cannot speak (or
    espeak-ng missing) is refused before anything is stored."""
    todo = plan_rules.greeting_to_speak(current.greeting if current else None, fields)
    if todo is not None:
        prompts.speak_or_refuse(*todo, prompts.folder_of(config.paths.data))


@number.command("remove")
@click.argument("did")
@config_option
def number_remove(did: str, config_path: str | None) -> None:
    """Remove an office number (its calls are then refused as not the office's)."""
    plan = _plan(config_path)
    plan.remove_number(did)
    click.echo(f"number {plan_rules.phone_number(did, 'did')} removed")


@number.command("list")
@config_option
@json_option
def number_list(config_path: str | None, as_json: bool) -> None:
    """List the office numbers and where their calls go."""
    plan = _plan(config_path)
    names = {c.id: c.name for c in plan.list_connections()}
    _emit([number_row(n, names) for n in plan.list_numbers()], as_json, NUMBER_COLUMNS)


@number.command("show")
@click.argument("did")
@config_option
@json_option
def number_show(did: str, config_path: str | None, as_json: bool) -> None:
    """Show every field of an office number."""
    _number_show(_store(_config(config_path)), did, as_json)
