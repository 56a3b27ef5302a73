"""Backups: one ``.tar.gz`` with a consistent copy of the store (settings included), the
firmware images and, when present, voicemail and recordings; and the restore of one.

The archive holds ``store/appliance.db`` (SQLite, through its online backup API) or
``store/appliance.sql`` (``pg_dump``), ``data/<folder>/...`` and, last, ``manifest.json``:
format version, app version, the store's revisions, the time it was made and every file with
its size and SHA-256. A restore reads and checks all of it before it changes anything, runs
only while the daemon is stopped, refuses a store newer than this software, and migrates the
restored store up to this version. Backups, restores and downloads are audited.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, BinaryIO

from appliance.config import Config
from appliance.errors import ApplianceError, BackupError, MigrationError
from appliance.store import Store, journal, open_store, snapshot, upgrade
from appliance.store.migrate import known_revisions, pending
from appliance.version import app_version

log = logging.getLogger("appliance.backup")

FORMAT = 1  # the archive layout this software writes and reads
MANIFEST = "manifest.json"
FOLDERS = ("firmware", "voicemail", "recordings")  # under <data>; absent ones are skipped
MAX_MANIFEST = 16 << 20
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file in a backup."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a backup holds."""

    format: int
    app_version: str
    created: datetime
    dialect: str
    revisions: tuple[str, ...]
    store_file: str
    folders: tuple[str, ...]
    files: tuple[Entry, ...]

    def to_json(self) -> dict[str, Any]:
        """The manifest as written into the archive."""
        return {"format": self.format, "app_version": self.app_version,
                "created": self.created.isoformat(),
                "store": {"dialect": self.dialect, "revisions": list(self.revisions),
                          "file": self.store_file},
                "folders": list(self.folders),
                "files": [{"path": e.path, "size": e.size, "sha256": e.sha256}
                          for e in self.files]}


def backup_folder(config: Config) -> Path:
    """Where nightly and pre-migration backups go: ``backup.folder``, else <data>/backups."""
    return config.backup.folder or config.paths.data / "backups"


# -- manifest checks (pure) ------------------------------------------------------------------

def safe_member(name: str) -> bool:
    """True for a path this format may hold: the manifest, ``store/<file>``, or a relative
    path under ``data/<one of FOLDERS>/`` without ``..``, empty or hidden segments."""
    if name == MANIFEST:
        return True
    parts = name.split("/")
    if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        return False
    if parts[0] == "store":
        return len(parts) == 2 and parts[1] in (snapshot.SQLITE_NAME, snapshot.POSTGRES_NAME)
    return parts[0] == "data" and len(parts) >= 3 and parts[1] in FOLDERS


def parse_manifest(data: Any, known: set[str]) -> Manifest:
    """Check a manifest's JSON against this software (``known``: the revisions it knows)."""
    if not isinstance(data, dict):
        raise BackupError("the backup's manifest is not a JSON object")
    fmt = data.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise BackupError(f"the backup's manifest has no valid format version: {fmt!r}")
    made_by = str(data.get("app_version", "?"))
    if fmt > FORMAT:
        raise BackupError(f"the backup was made by a newer appliance ({made_by}, backup format "
                          f"{fmt}; this one, {app_version()}, reads format {FORMAT}): "
                          "upgrade the appliance first")
    try:
        store = data["store"]
        revisions = tuple(sorted(str(r) for r in store["revisions"]))
        files = tuple(Entry(str(f["path"]), int(f["size"]), str(f["sha256"]))
                      for f in data["files"])
        manifest = Manifest(fmt, made_by, datetime.fromisoformat(str(data["created"])),
                            str(store["dialect"]), revisions, str(store["file"]),
                            tuple(str(f) for f in data.get("folders", ())), files)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"the backup's manifest is incomplete: {exc!r}") from None
    unknown = sorted(set(revisions) - known)
    if unknown or not revisions:
        raise BackupError(f"the store in the backup is at revision {','.join(revisions) or '?'}, "
                          f"newer than this software ({app_version()}): restore it with the "
                          f"appliance version that made it ({made_by}) or newer")
    paths = [e.path for e in files]
    if len(set(paths)) != len(paths) or not all(safe_member(p) and p != MANIFEST for p in paths):
        raise BackupError("the backup's manifest lists a file twice or an unsafe path")
    if manifest.store_file not in paths or manifest.dialect not in ("sqlite", "postgresql"):
        raise BackupError("the backup's manifest names no store copy")
    if not set(manifest.folders) <= set(FOLDERS) or any(
            len(e.sha256) != 64 or e.size < 0 for e in files):
        raise BackupError("the backup's manifest has a bad folder, size or SHA-256")
    return manifest


# -- making a backup -------------------------------------------------------------------------

class _Hashing:
    """A file read through SHA-256."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.digest.update(chunk)
        return chunk


def _add(tar: tarfile.TarFile, source: Path, name: str) -> Entry:
    with source.open("rb") as f:
        info = tar.gettarinfo(fileobj=f, arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        hashing = _Hashing(f)
        tar.addfile(info, hashing)
        return Entry(name, info.size, hashing.digest.hexdigest())


def _data_files(data: Path) -> Iterator[tuple[Path, str]]:
    """Regular files of the data folders (symlinks and special files are never followed)."""
    for folder in FOLDERS:
        root = data / folder
        if not root.is_dir() or root.is_symlink():
            continue
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(data).as_posix()
            if path.is_file() and not path.is_symlink() and not path.name.endswith(".tmp") \
                    and safe_member(f"data/{relative}"):
                yield path, f"data/{relative}"


def write_backup(config: Config, out: BinaryIO, store: Store | None = None) -> Manifest:
    """Write a backup of ``store`` (else the config's) and the data folders to ``out``."""
    data = config.paths.data
    url = (store.engine.url.render_as_string(hide_password=False) if store is not None
           else config.store.url)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=data, prefix=".backup-") as tmp:
        copy = Path(tmp) / snapshot.file_name(url)
        revisions = snapshot.dump(url, copy)
        if not revisions:
            raise BackupError("the store has no revision: run 'appliance init' first")
        folders = tuple(f for f in FOLDERS if (data / f).is_dir())
        try:
            with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar:
                entries = [_add(tar, copy, f"store/{copy.name}")]
                entries += [_add(tar, path, name) for path, name in _data_files(data)]
                manifest = Manifest(FORMAT, app_version(), datetime.now(UTC),
                                    "sqlite" if snapshot.is_sqlite(url) else "postgresql",
                                    tuple(revisions), f"store/{copy.name}", folders,
                                    tuple(entries))
                body = json.dumps(manifest.to_json(), indent=2).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode = len(body), 0o600
                info.mtime = int(manifest.created.timestamp())
                tar.addfile(info, io.BytesIO(body))
        except OSError as exc:
            raise BackupError(f"cannot write the backup: {exc}") from None
    return manifest


def make_backup(config: Config, target: Path, actor: str, trigger: str,
                store: Store | None = None) -> Manifest:
    """Write a backup to ``target`` (whole or not at all: a partial file never has its name),
    mode 0600 (it holds SIP passwords); audit it in ``store`` unless it is None."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_name(f".{target.name}.partial")
    try:
        fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            manifest = write_backup(config, out, store)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"cannot write the backup {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    if store is not None:
        audit(store, actor, "backup.made", target.name, manifest, trigger)
    return manifest


def audit(store: Store, actor: str, action: str, name: str, manifest: Manifest,
          trigger: str) -> None:
    """Record a backup action (made, downloaded, restored) in the audit log."""
    detail = {"trigger": trigger, "files": len(manifest.files),
              "bytes": sum(e.size for e in manifest.files),
              "revision": ",".join(manifest.revisions), "created": manifest.created.isoformat()}
    with store.write() as conn:
        journal.record(conn, actor, action, name[-64:], detail, datetime.now(UTC))


# -- reading and restoring -------------------------------------------------------------------

def read_backup(path: Path, staging: Path) -> Manifest:
    """Check every byte of the backup at ``path`` and unpack it into ``staging``."""
    found: dict[str, Entry] = {}
    body: bytes | None = None
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if not member.isfile() or not safe_member(member.name) or member.name in found:
                    raise BackupError(f"{path} holds an unexpected entry {member.name!r}")
                source = tar.extractfile(member)
                assert source is not None
                if member.name == MANIFEST:
                    if member.size > MAX_MANIFEST:
                        raise BackupError(f"{path}: the manifest is too large")
                    body = source.read()
                    continue
                found[member.name] = Entry(member.name, *_unpack(
                    source, staging / member.name, member.mode))
    except FileNotFoundError:
        raise BackupError(f"no backup file {path}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{path} is not a complete backup (truncated or damaged: "
                          f"{exc or type(exc).__name__})") from None
    if body is None:
        raise BackupError(f"{path} is not a complete backup (no manifest: truncated?)")
    try:
        manifest = parse_manifest(json.loads(body), known_revisions())
    except ValueError:
        raise BackupError(f"{path}: the manifest is not JSON") from None
    listed = {e.path: e for e in manifest.files}
    if set(listed) != set(found):
        raise BackupError(f"{path} is not a complete backup: its files differ from its manifest")
    for name, entry in listed.items():
        if found[name].size != entry.size or found[name].sha256 != entry.sha256:
            raise BackupError(f"{path} is damaged: {name} does not match its SHA-256")
    return manifest


def _unpack(source: IO[bytes], target: Path, mode: int) -> tuple[int, str]:
    """Copy one member out; return its size and SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, (mode & 0o755) | 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def running_daemon(config: Config) -> int | None:
    """The pid of a live daemon on this data folder (from ``run/ports.json``), else None."""
    try:
        pid = int(json.loads((config.run_dir / "ports.json").read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, as another user
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"appliance" in cmdline else None  # a stale file's pid, reused


def _refuse_if_running(config: Config) -> None:
    pid = running_daemon(config)
    if pid is not None:
        raise BackupError(f"the daemon is running (pid {pid}): stop it first "
                          "(systemctl stop appliance), then restore")


@contextmanager
def _staging(data: Path) -> Iterator[Path]:
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(dir=data, prefix=".restore-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restore(config: Config, path: Path, actor: str) -> Manifest:
    """Put the backup at ``path`` in place of the store and data folders, then migrate the
    store up to this version; nothing changes unless the whole backup checks out."""
    _refuse_if_running(config)
    data, url = config.paths.data, config.store.url
    with _staging(data) as staging:
        manifest = read_backup(path, staging)
        dialect = "sqlite" if snapshot.is_sqlite(url) else "postgresql"
        if manifest.dialect != dialect or Path(manifest.store_file).name != snapshot.file_name(url):
            raise BackupError(f"the backup holds a {manifest.dialect} store and store.url is "
                              f"{dialect}: restore it into a {manifest.dialect} store")
        copy = staging / manifest.store_file
        snapshot.check_copy(url, copy)
        if dialect == "sqlite" and tuple(snapshot.revisions_of_copy(url, copy)) \
                != manifest.revisions:
            raise BackupError(f"{path} is damaged: its store is not at the manifest's revision")
        _refuse_if_running(config)
        swapped = _swap_folders(data, staging, manifest.folders)
        try:
            snapshot.load(url, copy)
        except ApplianceError:
            _swap_back(data, staging, swapped)
            raise
    store = open_store(url)
    try:
        try:
            upgrade(store)
        except MigrationError as exc:
            raise BackupError(f"restored, but the migration to this version failed: {exc}") \
                from None
        audit(store, actor, "backup.restored", path.name, manifest, "restore")
    finally:
        store.dispose()
    log.info("restored %s (made %s by %s, revision %s)", path, manifest.created.isoformat(),
             manifest.app_version, ",".join(manifest.revisions))
    return manifest


def _swap_folders(data: Path, staging: Path, folders: tuple[str, ...]) -> list[str]:
    """Move each data folder aside into ``staging/old`` and the backup's in its place."""
    old = staging / "old"
    old.mkdir(mode=0o700)
    swapped = []
    try:
        for folder in FOLDERS:
            current, restored = data / folder, staging / "data" / folder
            if folder not in folders and not current.exists():
                continue
            if current.exists():
                current.rename(old / folder)
            swapped.append(folder)
            if restored.is_dir():
                restored.rename(current)
            elif folder in folders:
                current.mkdir(mode=0o755)
    except OSError as exc:
        _swap_back(data, staging, swapped)
        raise BackupError(f"cannot put the data folders in place: {exc}") from None
    return swapped


def _swap_back(data: Path, staging: Path, swapped: list[str]) -> None:
    for folder in swapped:
        current, kept = data / folder, staging / "old" / folder
        if current.exists():
            shutil.rmtree(current, ignore_errors=True)
        if kept.exists():
            kept.rename(current)


# -- before a migration ----------------------------------------------------------------------

def upgrade_with_backup(config: Config, store: Store, actor: str) -> Path | None:
    """Migrate ``store`` to this version; when that changes the revision of a store that has
    one, first take a backup into the backup folder (returned). No backup, no migration."""
    before = pending(store)
    if before is None:
        upgrade(store)
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = backup_folder(config) / f"pre-migration-{stamp}.tar.gz"
    try:
        manifest = make_backup(config, target, actor, "pre-migration")
    except ApplianceError as exc:
        raise MigrationError(f"the backup before migrating from revision {before} failed, so "
                             f"nothing was migrated: {exc}") from None
    log.info("store at revision %s backed up to %s before migrating", before, target)
    upgrade(store)
    audit(store, actor, "backup.made", target.name, manifest, "pre-migration")
    return target


def upgrade_in_child(config: Config, actor: str = "daemon") -> None:
    """``upgrade_with_backup`` in a forked child process, so that the caller (the daemon,
    which runs for months on a small box) never loads Alembic; MigrationError if it failed."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_upgrade_child, args=(config, actor, send),
                            name="appliance-migrate")
    child.start()
    send.close()
    try:
        why = receive.recv()
    except EOFError:
        why = None
    child.join()
    if why is None or child.exitcode != 0:
        raise MigrationError(f"the migration process ended with code {child.exitcode}")
    if why:
        raise MigrationError(why)


def _upgrade_child(config: Config, actor: str, send: Connection) -> None:
    try:
        upgrade_with_backup(config, open_store(config.store.url), actor)
        send.send("")
    except ApplianceError as exc:
        send.send(str(exc))
    except Exception:  # a bug: logged in full here, told to the parent in one line
        log.exception("migration failed")
        send.send("the migration failed (see the log)")
    finally:
        send.close()
