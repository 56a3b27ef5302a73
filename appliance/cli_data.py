"""The CLI's data commands: ``backup FILE``, ``restore FILE``, and ``export`` / ``import``
of employees and extensions as CSV (registered on the groups of ``appliance/cli.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from appliance.cli import _actor, _config, _directory, _emit, _store, config_option, json_option
from appliance.store import current_revision, open_store


def register(cli: click.Group, employee: click.Group, ext: click.Group) -> None:
    """Add the data commands to the ``appliance`` group and its employee and ext groups."""
    cli.add_command(backup_command)
    cli.add_command(restore_command)
    csv_commands(employee, "employees")
    csv_commands(ext, "extensions")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option
@json_option
def backup_command(file: str, config_path: str | None, as_json: bool) -> None:
    """Write a backup (store with settings, firmware, voicemail, recordings) to FILE."""
    from appliance.backup import make_backup

    cfg = _config(config_path)
    manifest = make_backup(cfg, Path(file), _actor(), "cli", _store(cfg))
    _emit({"file": str(Path(file).resolve()), "created": manifest.created.isoformat(),
           "revision": ",".join(manifest.revisions), "files": len(manifest.files),
           "bytes": sum(e.size for e in manifest.files)}, as_json)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option
def restore_command(file: str, config_path: str | None) -> None:
    """Replace the store and data folders by a backup (daemon stopped); migrate it up."""
    from appliance.backup import restore

    cfg = _config(config_path)
    manifest = restore(cfg, Path(file), _actor())
    click.echo(f"restored {file}: made {manifest.created.isoformat(timespec='seconds')} by "
               f"version {manifest.app_version} at revision {','.join(manifest.revisions)}; "
               f"store now at revision {current_revision(open_store(cfg.store.url))}")


def _csv_export(kind: str, file: str, config_path: str | None) -> None:
    from appliance.directory import csvio

    directory = _directory(config_path)
    text = (csvio.employees_csv(directory.list_employees()) if kind == "employees"
            else csvio.extensions_csv(directory.list_extensions()))
    if file == "-":
        sys.stdout.buffer.write(csvio.encode(text))
    else:
        Path(file).write_bytes(csvio.encode(text))


def _csv_import(kind: str, file: str, dry_run: bool, config_path: str | None,
                as_json: bool) -> None:
    from appliance.directory import csvio
    from appliance.directory.importer import import_csv

    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    cfg = _config(config_path)
    outcome = import_csv(_store(cfg), kind, csvio.decode(data), _actor(), dry_run)
    if as_json:
        click.echo(json.dumps({
            "written": outcome.written, "dry_run": dry_run,
            "changes": [{"row": c.line, "kind": c.kind, "key": c.key, "action": c.action,
                         "fields": list(c.fields), "label": c.label} for c in outcome.changes],
            "problems": [{"row": p.line, "field": p.field, "error": str(p.error)}
                         for p in outcome.problems]}, indent=2, ensure_ascii=False))
    else:
        for change in outcome.changes:
            click.echo(str(change))
        for problem in outcome.problems:
            click.echo(str(problem), err=True)
    if outcome.problems:
        raise click.ClickException(f"{len(outcome.problems)} problem(s) in {file}: nothing was "
                                   "imported")
    if not as_json:
        done = "would be made (dry run, nothing written)" if dry_run else "made"
        click.echo(f"{len(outcome.changes)} change(s) {done}")


def csv_commands(group: click.Group, kind: str) -> None:
    """Add ``export FILE`` and ``import FILE [--dry-run]`` to ``group``."""
    csv_file = click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))

    @group.command("export", help=f"Write every one of the {kind} to FILE as CSV (UTF-8 with "
                   "a byte-order mark, for Excel; '-' for standard output).")
    @csv_file
    @config_option
    def export(file: str, config_path: str | None) -> None:
        _csv_export(kind, file, config_path)

    @group.command("import", help=f"Add or change {kind} from a CSV FILE, all rows or none, "
                   "every change audited; --dry-run shows what would change.")
    @csv_file
    @click.option("--dry-run", is_flag=True, help="Check every row and show the changes; "
                  "write nothing.")
    @config_option
    @json_option
    def import_(file: str, dry_run: bool, config_path: str | None, as_json: bool) -> None:
        _csv_import(kind, file, dry_run, config_path, as_json)
