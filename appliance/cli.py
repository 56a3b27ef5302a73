"""The ``appliance`` command: init, run, status, employee, ext, phone, audit.

Every command takes ``--config FILE`` (or ``$APPLIANCE_CONFIG``) and works on that store.
Listings print tables, or JSON with ``--json``. Errors print one line on stderr and exit 1;
usage errors exit 2.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from appliance import config as config_mod
from appliance import localtime
from appliance.backup import upgrade_with_backup
from appliance.directory import UNSET, Directory, access
from appliance.directory.rules import (
    EXTENSION_NO_ANSWER,
    PERMISSIONS,
    PHONE_STATES,
    RECEIVE_METHODS,
)
from appliance.errors import ApplianceError, MigrationError
from appliance.store import Store, current_revision, head_revision, open_store
from appliance.version import app_version

F = TypeVar("F", bound=Callable[..., Any])
ZONE = "appliance.zone"  # click context meta: the box's time zone, once the store is open


class _Group(click.Group):
    """A group that turns any ApplianceError into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApplianceError as exc:
            raise click.ClickException(str(exc)) from None


def config_option(func: F) -> F:
    """Add ``--config FILE`` (env ``APPLIANCE_CONFIG``) to a command."""
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), envvar=config_mod.ENV_CONFIG,
        help="Config file (TOML). Default: $APPLIANCE_CONFIG, else dev defaults (./var).",
    )(func)


def json_option(func: F) -> F:
    """Add ``--json`` to a listing or show command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def _config(path: str | None) -> config_mod.Config:
    return config_mod.load(path, os.environ)


def _store(cfg: config_mod.Config) -> Store:
    store = open_store(cfg.store.url, create=False)
    revision = current_revision(store)
    if revision is None:
        raise MigrationError("the store is empty: run 'appliance init' with this config first")
    if revision != head_revision():
        upgrade_with_backup(cfg, store, _actor())
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # tables show times in the box's zone (JSON keeps UTC)
        ctx.meta[ZONE] = localtime.box_zone(cfg, store)
    return store


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _directory(path: str | None) -> Directory:
    return Directory(_store(_config(path)), actor=f"cli:{getpass.getuser()}")


def _emit(data: Any, as_json: bool, columns: Sequence[str] = ()) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif isinstance(data, list):
        _table([[_cell(row.get(c)) for c in columns] for row in data], columns)
    else:
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            click.echo(f"{key.ljust(width)}  {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        ctx = click.get_current_context(silent=True)
        zone = ctx.meta.get(ZONE) if ctx is not None else None
        return localtime.shown_text(value, zone) if zone is not None else value
    if isinstance(value, list):
        return ", ".join(_cell(v) if not isinstance(v, dict) else v.get("method", "?")
                         for v in value) or "-"
    return str(value)


def _table(rows: list[list[str]], columns: Sequence[str]) -> None:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@click.group(cls=_Group)
@click.version_option(version=app_version(), prog_name="appliance")
def cli() -> None:
    """Office phone appliance: finds and provisions desk phones and routes their calls."""


@cli.command()
@config_option
def init(config_path: str | None) -> None:
    """Create and migrate the store; print a one-time setup token until setup is done."""
    cfg = _config(config_path)
    store = open_store(cfg.store.url)
    made = upgrade_with_backup(cfg, store, _actor())
    if made is not None:
        click.echo(f"backup before the migration: {made}")
    click.echo(f"store: {cfg.store.url.split('://')[0]} at revision {current_revision(store)}")
    click.echo(f"data: {cfg.paths.data}")
    token = access.current_setup_token(store, cfg.paths.data, actor=f"cli:{getpass.getuser()}")
    if token is not None:
        click.echo(f"setup token (one use, for the admin page's first visit): {token}")


@cli.command()
@click.option("--banner", is_flag=True,
              help="Once ready, print the admin page's URL and the setup token set apart "
                   "(make run).")
@config_option
def run(banner: bool, config_path: str | None) -> None:
    """Run the appliance daemon until SIGTERM or SIGINT."""
    from appliance import firstrun

    cfg = _config(config_path)
    other = firstrun.running(cfg)
    if other is not None:
        raise click.ClickException(firstrun.already_running(cfg, other))
    logging.basicConfig(level=cfg.log.level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if banner:
        logging.getLogger().addHandler(firstrun.BannerHandler(cfg, sys.stderr))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from appliance.daemon import run as run_daemon

    run_daemon(cfg)


@cli.command()
@config_option
@json_option
def status(config_path: str | None, as_json: bool) -> None:
    """Store revision, directory counts, and whether the daemon runs (and where)."""
    from appliance.routing.bindings import cli_view
    from appliance.status import collect

    cfg = _config(config_path)
    store = _store(cfg)
    _emit({**collect(cfg, store), **cli_view(store, None, as_json, "registrations")}, as_json)


# -- employees -------------------------------------------------------------------------------

@cli.group()
def employee() -> None:
    """Employees: add, list, show, edit, dismiss."""


@employee.command("add")
@click.argument("name")
@click.option("--mobile", help="Mobile number in international digits, e.g. 84912345678.")
@config_option
@json_option
def employee_add(name: str, mobile: str | None, config_path: str | None, as_json: bool) -> None:
    """Add an employee; prints the new id."""
    person = _directory(config_path).add_employee(name, mobile)
    click.echo(json.dumps(person.to_dict(), indent=2) if as_json else person.id)


EMPLOYEE_COLUMNS = ("id", "name", "mobile", "status", "extension", "dismissed_at")


@employee.command("list")
@click.option("--status", type=click.Choice(["active", "dismissed"]), help="Only these.")
@config_option
@json_option
def employee_list(status: str | None, config_path: str | None, as_json: bool) -> None:
    """List employees (active and dismissed)."""
    rows = [e.to_dict() for e in _directory(config_path).list_employees(status)]
    _emit(rows, as_json, EMPLOYEE_COLUMNS)


@employee.command("show")
@click.argument("employee_id", type=int)
@config_option
@json_option
def employee_show(employee_id: int, config_path: str | None, as_json: bool) -> None:
    """Show one employee."""
    _emit(_directory(config_path).get_employee(employee_id).to_dict(), as_json)


@employee.command("edit")
@click.argument("employee_id", type=int)
@click.option("--name")
@click.option("--mobile", help="New mobile number; '' removes it.")
@config_option
@json_option
def employee_edit(employee_id: int, name: str | None, mobile: str | None,
                  config_path: str | None, as_json: bool) -> None:
    """Change an active employee's name or mobile number."""
    person = _directory(config_path).update_employee(
        employee_id, name=UNSET if name is None else name,
        mobile=UNSET if mobile is None else mobile)
    _emit(person.to_dict(), as_json)


@employee.command("dismiss")
@click.argument("employee_id", type=int)
@config_option
@json_option
def employee_dismiss(employee_id: int, config_path: str | None, as_json: bool) -> None:
    """Dismiss: phone disabled, extension freed with a new password, history kept."""
    result = _directory(config_path).dismiss(employee_id)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(f"employee {employee_id} dismissed")
    if result.extension:
        click.echo(f"extension {result.extension} freed; its SIP password was changed")
    for mac in result.phones:
        click.echo(f"phone {mac} disabled")


# -- extensions ------------------------------------------------------------------------------

def extension_options(func: F) -> F:
    """The editable extension fields as options."""
    for option in reversed([
        click.option("--name", help="Memorable name: ASCII letters, digits, '.', '_', '-'."),
        click.option("--permission", type=click.Choice(PERMISSIONS, case_sensitive=False)),
        click.option("--receive", type=click.Choice(RECEIVE_METHODS, case_sensitive=False)),
        click.option("--supervisor", help="Supervisor's extension number."),
        click.option("--group", help="Outbound number group."),
        click.option("--description"),
    ]):
        func = option(func)
    return func


@cli.group()
def ext() -> None:
    """Extensions: add, list, show, edit, passwd, assign, unassign."""


EXT_COLUMNS = ("number", "holder", "employee_id", "registered", "name", "permission", "receive",
               "supervisor", "group")


@ext.command("add")
@click.argument("number")
@extension_options
@config_option
@json_option
def ext_add(number: str, config_path: str | None, as_json: bool, **fields: Any) -> None:
    """Add a free extension with a random SIP password."""
    given = {k: v for k, v in fields.items() if v is not None}
    given.setdefault("permission", "internal")
    given.setdefault("receive", "both")
    created = _directory(config_path).add_extension(number, **given)
    _emit(created.to_dict(), as_json)


@ext.command("edit")
@click.argument("number")
@extension_options
@click.option("--no-answer", type=click.Choice(EXTENSION_NO_ANSWER, case_sensitive=False),
              help="A call not answered here: as the office number says, go on with its "
                   "routing, the employee's mobile, or their voicemail (calls from other "
                   "extensions too, for mobile and voicemail).")
@click.option("--no-answer-connection", metavar="CONNECTION",
              help="Connection to the mobile ('' : the number's).")
@click.option("--ring-timeout", metavar="SECONDS",
              help="Seconds this extension rings, 5-600 ('' : the number's ring time).")
@config_option
@json_option
def ext_edit(number: str, config_path: str | None, as_json: bool, **fields: Any) -> None:
    """Change an extension's fields ('' clears name, supervisor, group, description, the
    no-answer connection and ring time)."""
    given = {k: v for k, v in fields.items() if v is not None}
    _emit(_directory(config_path).update_extension(number, **given).to_dict(), as_json)


@ext.command("list")
@config_option
@json_option
def ext_list(config_path: str | None, as_json: bool) -> None:
    """List extensions (no passwords), with their holders' names and live registrations."""
    from appliance.routing.bindings import report

    directory = _directory(config_path)
    names = {e.id: e.name for e in directory.list_employees()}
    registered: dict[str, list[str]] = {}
    for found in report(directory.store):
        host = found["via"].split(":", 1)[1].rsplit(":", 1)[0]
        registered.setdefault(found["extension"], []).append(f"{found['kind']} {host}")
    rows = [{**e.to_dict(), "holder": names.get(e.employee_id) if e.employee_id else None,
             "registered": registered.get(e.number, [])}
            for e in directory.list_extensions()]
    _emit(rows, as_json, EXT_COLUMNS)


@ext.command("show")
@click.argument("number")
@config_option
@json_option
def ext_show(number: str, config_path: str | None, as_json: bool) -> None:
    """Show an extension with its SIP credentials (for a softphone)."""
    from appliance.routing.bindings import cli_view

    directory = _directory(config_path)
    found = directory.get_extension(number)
    directory.log_credentials_shown(found.number)
    _emit({**found.to_dict(with_secret=True),
           **cli_view(directory.store, found.number, as_json, "contacts")}, as_json)


@ext.command("passwd")
@click.argument("number")
@click.option("--generate", is_flag=True, help="A new random password (the default).")
@click.option("--password", help="This password (12-64 characters, never used before).")
@config_option
@json_option
def ext_passwd(number: str, generate: bool, password: str | None, config_path: str | None,
               as_json: bool) -> None:
    """Change an extension's SIP password and print the new one."""
    if generate and password is not None:
        raise click.UsageError("give --generate or --password, not both")
    changed = _directory(config_path).set_password(number, password)
    if as_json:
        click.echo(json.dumps({"number": changed.number, "sip_username": changed.sip_username,
                               "sip_password": changed.sip_password}, indent=2))
    else:
        click.echo(changed.sip_password)


@ext.command("assign")
@click.argument("number")
@click.argument("employee_id", type=int)
@config_option
@json_option
def ext_assign(number: str, employee_id: int, config_path: str | None, as_json: bool) -> None:
    """Give a free extension to an active employee (issues a new password)."""
    _emit(_directory(config_path).assign_extension(number, employee_id).to_dict(), as_json)


@ext.command("unassign")
@click.argument("number")
@config_option
@json_option
def ext_unassign(number: str, config_path: str | None, as_json: bool) -> None:
    """Free an extension: new password, its phones disabled."""
    _emit(_directory(config_path).unassign_extension(number).to_dict(), as_json)


# -- phones ----------------------------------------------------------------------------------

@cli.group()
def phone() -> None:
    """Phones: list, show, assign, disable."""


PHONE_COLUMNS = ("mac", "state", "extension", "vendor", "model", "firmware", "ip",
                 "discovered_by", "last_seen")


@phone.command("list")
@click.option("--state", type=click.Choice(PHONE_STATES))
@config_option
@json_option
def phone_list(state: str | None, config_path: str | None, as_json: bool) -> None:
    """List the phone inventory, with each phone's last provisioning fetch."""
    rows = []
    for found in _directory(config_path).list_phones(state, with_sightings=True):
        fetches = [s for s in found.sightings if s.method in ("tftp", "http") and s.detail]
        last = max(fetches, key=lambda s: s.last_seen, default=None)
        row = {k: v for k, v in found.to_dict().items() if k != "sightings"}
        row["last_fetch"] = None if last is None else {
            "method": last.method, "file": (last.detail or "").partition(" ")[2],
            "at": last.last_seen.isoformat()}
        if not as_json and last is not None:
            row["last_fetch"] = f"{last.detail} {last.last_seen.isoformat(timespec='seconds')}"
        rows.append(row)
    _emit(rows, as_json, (*PHONE_COLUMNS, "last_fetch"))


@phone.command("show")
@click.argument("mac")
@config_option
@json_option
def phone_show(mac: str, config_path: str | None, as_json: bool) -> None:
    """Show a phone and every way it was seen."""
    _emit(_directory(config_path).get_phone(mac).to_dict(), as_json)


@phone.command("assign")
@click.argument("mac")
@click.argument("number")
@config_option
@json_option
def phone_assign(mac: str, number: str, config_path: str | None, as_json: bool) -> None:
    """Give a phone an extension's account (an unknown MAC is added)."""
    _emit(_directory(config_path).assign_phone(mac, number).to_dict(), as_json)


@phone.command("disable")
@click.argument("mac")
@config_option
@json_option
def phone_disable(mac: str, config_path: str | None, as_json: bool) -> None:
    """Switch a phone's account off."""
    _emit(_directory(config_path).disable_phone(mac).to_dict(), as_json)


# -- admins of the web page -------------------------------------------------------------------

@cli.group()
def admin() -> None:
    """Users of the admin web page: list, add, passwd (recovers a lost password)."""


def _accounts(config_path: str | None) -> Any:
    from appliance.web.accounts import Accounts

    return Accounts(_store(_config(config_path)))


def _new_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@admin.command("list")
@config_option
@json_option
def admin_list(config_path: str | None, as_json: bool) -> None:
    """List the web page's users."""
    rows = [{"id": a.id, "username": a.username, "role": a.role, "language": a.language,
             "password_changed_at": a.password_changed_at.isoformat()}
            for a in _accounts(config_path).all()]
    _emit(rows, as_json, ("id", "username", "role", "language", "password_changed_at"))


@admin.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin",
              show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@config_option
def admin_add(username: str, role: str, password_stdin: bool, config_path: str | None) -> None:
    """Add a web user (prompts for the password); the setup token is then spent."""
    accounts = _accounts(config_path)
    actor = f"cli:{getpass.getuser()}"
    made = accounts.create(username, _new_password(password_stdin), role, actor=actor)
    access.mark_setup_done(accounts.store, actor)
    click.echo(f"{made.role} {made.username} added")


@admin.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@config_option
def admin_passwd(username: str, password_stdin: bool, config_path: str | None) -> None:
    """Set a web user's password and end their sessions."""
    from appliance.errors import NotFoundError

    accounts = _accounts(config_path)
    found = [a for a in accounts.all() if a.username == username.strip().lower()]
    if not found:
        raise NotFoundError(f"no web user named {username!r}")
    accounts.set_password(found[0].id, _new_password(password_stdin),
                          actor=f"cli:{getpass.getuser()}")
    click.echo(f"password of {found[0].username} changed; their sessions were ended")


# -- audit -----------------------------------------------------------------------------------

@cli.command()
@click.option("--search", help="Only entries whose shown text (time, who, what, target, "
              "details) contains every word of this; accents and case ignored.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@config_option
@json_option
def audit(search: str | None, limit: int, config_path: str | None, as_json: bool) -> None:
    """The audit log, newest first, as the admin page shows it (--json: the raw entries,
    times in UTC, with the same text under "label", "target_name" and "details")."""
    from appliance.web import auditlog
    from appliance.web.overrides import FIELDS

    cfg = _config(config_path)
    store = _store(cfg)
    zone = localtime.box_zone(cfg, store)
    names = auditlog.Names.load(store, {f.dotted: f.label for f in FIELDS})
    shown, cut = auditlog.search(store, search or "", limit, names,
                                 when=lambda at: localtime.shown(at, zone))
    if as_json:
        _emit([{**r.entry.to_dict(), "label": r.label, "target_name": r.target,
                "details": r.detail} for r in shown], True)
        return
    _emit([{"at": localtime.shown(r.at, zone), "who": r.actor, "what": r.label,
            "target": r.target, "details": r.detail} for r in shown], False,
          ("at", "who", "what", "target", "details"))
    if cut:
        click.echo(f"(only the newest {auditlog.SCAN_LIMIT} entries were searched)", err=True)


# -- provisioning: firmware and push ---------------------------------------------------------

@cli.group()
def firmware() -> None:
    """Firmware images handed to phones: add, list."""


FIRMWARE_COLUMNS = ("vendor", "model", "version", "filename", "size", "added_at")


@firmware.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--vendor", required=True, help="yealink, polycom, cisco, grandstream, snom, fanvil.")
@click.option("--model", required=True, help="The model, e.g. SIP-T46U or CP-7841-3PCC.")
@click.option("--version", "version", required=True, help="The image's version.")
@config_option
@json_option
def firmware_add(file: str, vendor: str, model: str, version: str, config_path: str | None,
                 as_json: bool) -> None:
    """Store a firmware image; phones of that model reporting an older version get it."""
    from pathlib import Path

    from appliance.directory import utcnow
    from appliance.provisioning.firmware import Firmware, load_profiles

    cfg = _config(config_path)
    store = _store(cfg)
    image = Firmware(store, cfg.paths.data, load_profiles(cfg.provisioning.firmware_profiles)
                     ).add(Path(file), vendor.lower(), model, version,
                           f"cli:{getpass.getuser()}", utcnow())
    _emit(_firmware_row(image), as_json)


@firmware.command("list")
@click.option("--vendor", help="Only this vendor's images.")
@config_option
@json_option
def firmware_list(vendor: str | None, config_path: str | None, as_json: bool) -> None:
    """List stored firmware images."""
    from appliance.provisioning.firmware import Firmware, load_profiles

    cfg = _config(config_path)
    images = Firmware(_store(cfg), cfg.paths.data,
                      load_profiles(cfg.provisioning.firmware_profiles)).images(vendor)
    _emit([_firmware_row(i) for i in images], as_json, FIRMWARE_COLUMNS)


def _firmware_row(image: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v.isoformat() if hasattr(v, "isoformat") else v
            for k, v in asdict(image).items()}


@phone.command("resync")
@click.argument("mac")
@config_option
def phone_resync(mac: str, config_path: str | None) -> None:
    """Send the phone a NOTIFY (check-sync; Cisco: resync) so it re-fetches its files now."""
    from appliance.directory import rules
    from appliance.errors import ProvisioningError
    from appliance.provisioning import push
    from appliance.provisioning.service import push_targets

    cfg = _config(config_path)
    clean = rules.mac_address(mac)
    store = _store(cfg)
    Directory(store).get_phone(clean)
    targets = push_targets(store, [clean], cfg.provisioning.push_port)
    if not targets:
        raise ProvisioningError(f"phone {clean} has no known address yet; it is updated at "
                                "its next boot")
    from appliance.status import daemon_state

    if cfg.sip.enabled and str(daemon_state(cfg)["daemon"]).startswith("running"):
        # The running daemon sends it from its SIP socket, the registrar's address, which
        # phones that accept NOTIFY only from their registrar require.
        Directory(store, actor=f"cli:{getpass.getuser()}").request_resync(clean)
        click.echo(f"resync of {clean} requested: the running daemon sends NOTIFY "
                   f"{targets[0].event} to {targets[0].ip}:{targets[0].port}")
        return
    if not push.send_notify(targets[0]):
        raise ProvisioningError(f"the NOTIFY to phone {clean} could not be sent")
    click.echo(f"NOTIFY {targets[0].event} sent to {clean} at {targets[0].ip}:{targets[0].port}")


# -- SIP: the guard's bans -------------------------------------------------------------------

@cli.group()
def sip() -> None:
    """The SIP core: bans, unban."""


BAN_COLUMNS = ("address", "since", "until", "seconds_left", "reason", "failures", "usernames")


@sip.command("bans")
@config_option
@json_option
def sip_bans(config_path: str | None, as_json: bool) -> None:
    """Source addresses the running daemon bans for failed authentications."""
    from appliance.routing import bans

    _emit(bans.listing(_store(_config(config_path))), as_json, BAN_COLUMNS)


@sip.command("unban")
@click.argument("address")
@config_option
def sip_unban(address: str, config_path: str | None) -> None:
    """Lift the ban on ADDRESS (audited); the running daemon lets it in within a second."""
    from appliance.routing import bans

    bans.lift(_store(_config(config_path)), address, actor=f"cli:{getpass.getuser()}")
    click.echo(f"ban on {address.strip()} lifted")


# -- backups, CSV import and export (appliance/cli_data.py) ----------------------------------

from appliance import cli_data  # noqa: E402  (it uses the helpers and groups above)

cli_data.register(cli, employee, ext)

# -- connections and office numbers (appliance/cli_calls.py) ---------------------------------

from appliance import cli_calls  # noqa: E402  (it uses the helpers above)

cli_calls.register(cli)

# -- the call history and live calls (appliance/cli_history.py) -------------------------------

from appliance import cli_history  # noqa: E402  (it uses the helpers above)

cli_history.register(cli)

# -- queue groups and presence (appliance/cli_queues.py) --------------------------------------

from appliance import cli_queues  # noqa: E402  (it uses the helpers above)

cli_queues.register(cli)

# -- IVR menus (appliance/cli_menus.py) -------------------------------------------------------

from appliance import cli_menus  # noqa: E402  (it uses the helpers above)

cli_menus.register(cli)

# -- missed-call callbacks (appliance/cli_callbacks.py) ---------------------------------------

from appliance import cli_callbacks  # noqa: E402  (it uses the helpers above)

cli_callbacks.register(cli)

# -- call recordings (appliance/cli_recordings.py) --------------------------------------------

from appliance import cli_recordings  # noqa: E402  (it uses the helpers above)

cli_recordings.register(cli)

# -- hold music (appliance/cli_media.py) --------------------------------------------------------

from appliance import cli_media  # noqa: E402  (it uses the helpers above)

cli_media.register(cli)

# -- voicemail (appliance/cli_voicemail.py) ------------------------------------------------------

from appliance import cli_voicemail  # noqa: E402  (it uses the helpers above)

cli_voicemail.register(cli)


def main() -> None:
    """Console entry point."""
    cli(prog_name="appliance")
