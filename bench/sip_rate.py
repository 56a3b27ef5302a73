"""SIP rates: SIPp against the appliance and, in the same run, against Kamailio twice.

Two measurements, each stepped up until the first rate with a failed call or a
retransmission (a request unanswered within T1, 500 ms):
- REGISTER with digest (401, REGISTER with credentials, 200) over UDP, users from a CSV;
- calls between two registered SIPp instances: INVITE, 407, ACK, INVITE with credentials,
  100, 180, 200, ACK, BYE, 200 through the proxy with Record-Route.

Three targets, each measured the same way:
- appliance: our SIP core. It writes every binding change to its SQLite store
  (group-committed, synchronous=FULL) before it sends the 200 to a REGISTER, so a restart
  keeps every phone reachable (a requirement of the product).
- kamailio (memory-only): usrloc db_mode 0, 4 workers (children=4), bindings kept in
  memory only and lost on a restart. Less durable than the appliance, so the ratio against
  it is NOT like-for-like on durability; it is kept as the ceiling of Kamailio's SIP
  handling alone.
- kamailio-persisted: usrloc db_mode 1 (write-through) to a SQLite file through db_sqlite,
  so, like the appliance, the binding is on disk before the 200 (same durability), with
  ONE worker (children=1): Kamailio 5.6's db_sqlite sets no busy timeout, so with several
  workers they get "database is locked" at once: writes refused, re-REGISTERs answered
  500, first registrations answered 200 with no row stored. Measured with 4 workers: only
  100-200/s, with refused writes. One worker is the configuration in which its SQLite
  write-through works. SQLite is otherwise left at Kamailio's defaults (see
  KAMAILIO_PERSISTED below); a step in which Kamailio logs a failed location write counts
  as failed, and after the run the location table must hold the registered users' rows.
Auth (subscriber) is db_text for both Kamailio targets: only the location store and the
number of workers (KAMAILIO_CHILDREN) differ.

For each target it prints the highest rate with zero failures, the p99 response time at
that rate, the appliance's peak RSS, and the ratios appliance/kamailio (memory-only) and
appliance/kamailio-persisted (same durability). Everything runs on 127.0.0.1. Kamailio and
kamailio-sqlite-modules (Debian's packages) are installed here if missing; run as root or
the Kamailio targets are skipped.

    python bench/sip_rate.py [--seconds 3] [--users 200] [--only register|calls|both]
                             [--targets appliance,kamailio,kamailio-persisted] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import RunningDaemon, appliance  # noqa: E402
from tests.integration.sip_helpers import SIPP_DATA, free_port, start_sip_daemon  # noqa: E402

# Up to where SIPp itself saturates, so that Kamailio's ceiling is measured, not the scale's.
REGISTER_RATES = (100, 200, 400, 600, 800, 1000, 1300, 1600, 2000, 2500, 3000, 4000, 5000,
                  6000, 8000)
CALL_RATES = (25, 50, 100, 150, 200, 300, 400, 500, 600, 800)
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
# Kamailio's own SQLite schema, shipped by kamailio-sqlite-modules: the location table and
# the version rows usrloc checks at start are created from these files, not written here.
KAMAILIO_SQLITE_SQL = Path("/usr/share/kamailio/db_sqlite")
KAMAILIO_LOCATION_SQL = ("standard-create.sql", "usrloc-create.sql")

TARGETS = ("appliance", "kamailio", "kamailio-persisted")
WHAT = {
    "appliance": "our SIP core: every binding on disk (SQLite, synchronous=FULL) before the 200",
    "kamailio": "memory-only, usrloc db_mode 0, 4 workers: bindings lost on restart, "
                "NOT like-for-like on durability",
    "kamailio-persisted": "usrloc db_mode 1 write-through to SQLite, 1 worker (db_sqlite "
                          "5.6 has no busy timeout: 4 workers got \"database is locked\", "
                          "100-200/s with refused writes): binding on disk before the 200",
}
# Kamailio's workers (children=) per target; persisted is 1 for db_sqlite (see docstring).
KAMAILIO_CHILDREN = {"kamailio": 4, "kamailio-persisted": 1}

# Memory-only: today's configuration, bindings in shared memory only.
KAMAILIO_MEMORY = """modparam("usrloc", "db_mode", 0)"""
# Persisted: write-through (db_mode 1): save() writes the contact to the location table
# (INSERT, or UPDATE on a re-REGISTER) in the worker, before the registrar sends the 200;
# lookups are served from the memory cache. SQLite is left at Kamailio's defaults, as
# Kamailio 5.6.3's db_sqlite opens it: sqlite3_open_v2(READWRITE|CREATE) and nothing else
# (its only tunable, db_set_journal_mode, unset), so SQLite's own defaults of Debian's
# libsqlite3 (3.40) apply: journal_mode=DELETE (a rollback journal created, synced and
# deleted per transaction), synchronous=FULL (compiled SQLITE_DEFAULT_SYNCHRONOUS=2), each
# statement its own autocommit transaction (no group commit), and no busy timeout (5.6.3
# has no parameter for one: a worker that finds the file locked by another gets
# SQLITE_BUSY at once, logs the failed write, and a re-REGISTER gets a 500). Hence one
# worker for this target (KAMAILIO_CHILDREN); the refused-write check stays in case
# another of its processes still collides with it.
KAMAILIO_PERSISTED = """loadmodule "db_sqlite.so"
modparam("usrloc", "db_url", "sqlite://{location_db}")
modparam("usrloc", "db_mode", 1)"""

KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children={children}
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "db_text.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("auth_db", "db_url", "text://{db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth_db", "use_domain", 0)
# The appliance's checks: nonces expire after 300 s and a replayed nonce-count is refused.
modparam("auth", "nonce_expire", 300)
modparam("auth", "nonce_count", 1)
{location}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ route(RELAY); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ route(RELAY); }} exit; }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        if (!auth_check("$fd", "subscriber", "1")) {{ auth_challenge("$fd", "1"); exit; }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!auth_check("$fd", "subscriber", "1")) {{ auth_challenge("$fd", "1"); exit; }}
        consume_credentials();
        record_route();
    }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}
"""

# Log lines of a serious problem (Kamailio's levels above WARNING).
KAMAILIO_TROUBLE = re.compile(r"\b(ERROR|CRITICAL|BUG|ALERT):")
# Log lines of a location write that did not reach SQLite (db_sqlite, usrloc, registrar).
KAMAILIO_WRITE_FAILED = re.compile(r"\bERROR: (db_sqlite|usrloc|registrar) ")


def refused_writes(lines: list[str]) -> int:
    """Statements db_sqlite could not run (each also logs a "finalize failed" line, and the
    usrloc and registrar lines above it, not counted again)."""
    return sum(1 for text in lines if "ERROR: db_sqlite" in text
               and "finalize failed" not in text)


@dataclass
class Result:
    """One target's figures; None where that measurement was not run."""

    register: int | None = None
    register_p99: float | None = None
    calls: int | None = None
    call_p99: float | None = None
    registered_users: int = 0  # distinct users the REGISTER steps and the callee sent


@dataclass
class Kamailio:
    """A started Kamailio, its address, log and (persisted only) its SQLite location file."""

    process: subprocess.Popen[bytes]
    target: tuple[str, int]
    log: Path
    location_db: Path | None


class LogWatch:
    """Reads what a log gained since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def new_lines(self) -> list[str]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        whole = data[:data.rfind(b"\n") + 1]
        self.offset += len(whole)
        return whole.decode(errors="replace").splitlines()

    def failed_writes(self) -> list[str]:
        return [line for line in self.new_lines() if KAMAILIO_WRITE_FAILED.search(line)]


def sipp(scenario: str, target: tuple[str, int], port: int, *args: str) -> list[str]:
    return ["sipp", f"{target[0]}:{target[1]}", "-sf", str(SIPP_DATA / scenario),
            "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-timeout_error",
            "-max_recv_loops", "10000", "-max_sched_loops", "10000", *args]


def retransmissions(folder: Path) -> int:
    """Retransmissions SIPp counted in the step (from its -trace_stat file)."""
    total = 0
    for path in folder.glob("*_.csv"):
        rows = list(csv.reader(path.open(), delimiter=";"))
        if len(rows) >= 2 and "Retransmissions(C)" in rows[0]:
            total += int(rows[-1][rows[0].index("Retransmissions(C)")] or 0)
    return total


def run_step(command: list[str], folder: Path, seconds: float) -> tuple[bool, float | None]:
    """Run one SIPp load step: (no failed call and no retransmission, p99 in ms)."""
    for old in [*folder.glob("*_rtt.csv"), *folder.glob("*_.csv")]:
        old.unlink()
    result = subprocess.run([*command, "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-fd",
                             "1"], cwd=folder, capture_output=True, text=True,
                            timeout=seconds * 4 + 60, check=False, stdin=subprocess.DEVNULL)
    times: list[float] = []
    for path in folder.glob("*_rtt.csv"):
        with path.open() as handle:
            for row in csv.reader(handle, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "").isdigit():
                    times.append(float(row[1]))
    p99 = statistics.quantiles(times, n=100)[98] if len(times) >= 100 else (
        max(times) if times else None)
    return result.returncode == 0 and retransmissions(folder) == 0, p99


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def sweep(name: str, rates: tuple[int, ...], make: Callable[[int], list[str]], folder: Path,
          seconds: float, watch: LogWatch | None = None) -> tuple[int, float | None]:
    """The highest rate with zero failures, and its p99. With ``watch`` (kamailio-persisted),
    a step in which Kamailio logged a failed location write has failed too: a binding that
    is not on disk before the 200 is not what is compared."""
    best, best_p99 = 0, None
    for rate in rates:
        ok, p99 = run_step(make(rate), folder, seconds)
        failed = watch.failed_writes() if watch is not None else []
        note = (f" ({refused_writes(failed)} location writes refused by SQLite, first: "
                f"{failed[0].strip()})" if failed else "")
        ok = ok and not failed
        print(f"  {name}: {rate}/s {'ok' if ok else 'FAILED'}, p99 {ms(p99)}{note}",
              flush=True)
        if not ok:
            break
        best, best_p99 = rate, p99
    return best, best_p99


def measure(label: str, target: tuple[str, int], folder: Path, users: list[tuple[str, str]],
            seconds: float, only: str, watch: LogWatch | None = None) -> Result:
    folder.mkdir(parents=True, exist_ok=True)
    inf = folder / "users.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(
        f"{u};[authentication username={u} password={p}]\n" for u, p in users[1:]))
    print(f"{label} ({WHAT[label]}):", flush=True)
    result = Result()
    if only in {"register", "both"}:
        reg_port = free_port()
        steps: list[int] = []

        def register(rate: int) -> list[str]:
            steps.append(int(rate * seconds))
            return sipp("bench_register.xml", target, reg_port, "-inf", str(inf), "-key",
                        "expires", "3600", "-r", str(rate), "-m", str(int(rate * seconds)),
                        "-l", str(rate * 4))

        result.register, result.register_p99 = sweep("REGISTER", REGISTER_RATES, register,
                                                     folder, seconds, watch)
        result.registered_users = min(len(users) - 1, max(steps))
    if only in {"calls", "both"}:
        callee, caller = users[0], users[1]
        uas_port = free_port()
        registered = subprocess.run(sipp("register.xml", target, uas_port, "-s", callee[0],
                                         "-au", callee[0], "-ap", callee[1], "-m", "1",
                                         "-key", "expires", "3600"), cwd=folder,
                                    capture_output=True, text=True, timeout=60, check=False)
        if registered.returncode != 0:
            raise SystemExit(f"{label}: the callee could not register:\n{registered.stderr}")
        result.registered_users += 1
        uas = subprocess.Popen(sipp("uas_call.xml", target, uas_port, "-s", callee[0]),
                               cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            uac_port = free_port()
            result.calls, result.call_p99 = sweep("calls", CALL_RATES, lambda r: sipp(
                "uac_call.xml", target, uac_port, "-s", callee[0], "-key", "caller",
                caller[0], "-au", caller[0], "-ap", caller[1], "-r", str(r), "-m",
                str(int(r * seconds)), "-l", str(r * 4)), folder, seconds, watch)
        finally:
            uas.terminate()
            uas.wait(10)
    return result


def appliance_users(config: Path, count: int) -> list[tuple[str, str]]:
    from appliance import config as config_mod
    from appliance.directory import Directory
    from appliance.store import open_store

    store = open_store(config_mod.load(config, {}).store.url, create=False)
    directory = Directory(store, actor="bench")
    users = []
    for n in range(count):
        number = str(1000 + n)
        employee = directory.add_employee(f"Bench {number}")
        directory.add_extension(number, receive="both")
        users.append((number, directory.assign_extension(number, employee.id).sip_password))
    store.dispose()
    return users


def create_location_db(path: Path) -> None:
    """The SQLite file of kamailio-persisted: the version table, the location (and
    location_attrs) table and their version rows, from Kamailio's own shipped SQL. No
    PRAGMA is set: the file keeps SQLite's defaults, as Kamailio would find it."""
    with closing(sqlite3.connect(path)) as db:
        for name in KAMAILIO_LOCATION_SQL:
            db.executescript((KAMAILIO_SQLITE_SQL / name).read_text(encoding="utf-8"))
        db.commit()


def location_rows(path: Path) -> tuple[int, int]:
    """(rows, distinct users) in the location table of a SQLite file, read-only."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT username) FROM location").fetchone()
    return int(rows), int(distinct)


def start_kamailio(folder: Path, users: list[tuple[str, str]], persisted: bool,
                   children: int) -> Kamailio:
    db = folder / "db"
    db.mkdir(parents=True)
    (db / "version").write_text("table_name(str) table_version(int)\nsubscriber:7\n")
    rows = "".join(f"{n}:{u}:127.0.0.1:{p}:::\n" for n, (u, p) in enumerate(users, 1))
    (db / "subscriber").write_text("id(int,auto) username(str) domain(str) password(str) "
                                   "ha1(str,null) ha1b(str,null) email_address(str,null)\n" + rows)
    location_db: Path | None = None
    location = KAMAILIO_MEMORY
    if persisted:
        location_db = folder / "location.db"
        create_location_db(location_db)
        location = KAMAILIO_PERSISTED.format(location_db=location_db)
    port = free_port()
    cfg = folder / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.format(port=port, modules=KAMAILIO_MODULES, db=db,
                                       children=children, location=location))
    log = folder / "kamailio.log"
    process = subprocess.Popen(["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "512",
                                "-P", str(folder / "kamailio.pid")],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.settimeout(0.3)
    while time.monotonic() < deadline:
        probe.sendto(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch="
                     b"z9hG4bKprobe\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:p@x>\r\nCall-ID: p\r\n"
                     b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                     ("127.0.0.1", port))
        try:
            probe.recv(4096)
            break
        except TimeoutError:
            if process.poll() is not None:
                break
    probe.close()
    if process.poll() is not None:
        raise SystemExit("kamailio did not start:\n" + log.read_text(errors="replace"))
    trouble = [line for line in log.read_text(errors="replace").splitlines()
               if KAMAILIO_TROUBLE.search(line)]
    if trouble:
        process.terminate()
        process.wait(10)
        raise SystemExit(f"kamailio started with errors (see {log}):\n" + "\n".join(trouble))
    print(f"kamailio{'-persisted' if persisted else ''} started cleanly, children={children} "
          f"(no ERROR in {log})", flush=True)
    return Kamailio(process, ("127.0.0.1", port), log, location_db)


def status_kib(pid: int, key: str) -> int:
    """A size line of /proc/PID/status in KiB (``VmRSS``, ``VmHWM``), 0 when absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def peak_rss_kib(pid: int) -> int:
    return status_kib(pid, "VmHWM")


def rss_mib(pid: int) -> int:
    """The resident size of ``pid`` now, in MiB."""
    return status_kib(pid, "VmRSS") // 1024


def apt_install(package: str) -> None:
    subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q",
                    "--no-install-recommends", package], check=False)


def kamailio_ready(targets: list[str]) -> list[str]:
    """The requested Kamailio targets that can run here (installing what is missing as
    root); says why any other is skipped."""
    wanted = [t for t in targets if t.startswith("kamailio")]
    if wanted and shutil.which("kamailio") is None and os.geteuid() == 0:
        apt_install("kamailio")
    sqlite_ready = (Path(KAMAILIO_MODULES, "db_sqlite.so").exists()
                    and all((KAMAILIO_SQLITE_SQL / n).exists() for n in KAMAILIO_LOCATION_SQL))
    if "kamailio-persisted" in wanted and not sqlite_ready and os.geteuid() == 0:
        apt_install("kamailio-sqlite-modules")
        sqlite_ready = (Path(KAMAILIO_MODULES, "db_sqlite.so").exists()
                        and all((KAMAILIO_SQLITE_SQL / n).exists()
                                for n in KAMAILIO_LOCATION_SQL))
    ready = []
    for name in wanted:
        if shutil.which("kamailio") is None:
            print(f"{name}: skipped, kamailio not installed (run as root to install it)")
        elif name == "kamailio-persisted" and not sqlite_ready:
            print(f"{name}: skipped, kamailio-sqlite-modules not installed (run as root)")
        else:
            ready.append(name)
    return ready


APPLIANCE_CONFIG = """
[paths]
data = "{data}"
[web]
enabled = false
[provisioning]
enabled = false
[log]
level = "info"
[sip]
listen = "127.0.0.1:0"
tcp_listen = ""
domain = "127.0.0.1"
digest_algorithms = ["MD5"]
flood_rate = 0
ban_failures = 0
"""


def targets_arg(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in TARGETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"targets are a comma list of {', '.join(TARGETS)}")
    return [name for name in TARGETS if name in names]


def line(name: str, result: Result, rss: str = "") -> str:
    register = ("REGISTER -" if result.register is None else
                f"REGISTER {result.register}/s (p99 {ms(result.register_p99)})")
    calls = ("calls -" if result.calls is None else
             f"calls {result.calls}/s (p99 {ms(result.call_p99)})")
    return f"  {name + ':':20}{register}, {calls}{rss}  [{WHAT[name]}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="load per step")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--only", choices=("register", "calls", "both"), default="both",
                        help="which measurement to run (default both)")
    parser.add_argument("--targets", type=targets_arg, default=list(TARGETS),
                        help="comma list of appliance,kamailio,kamailio-persisted (default all)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run folder (Kamailio's logs, configs, SQLite file)")
    args = parser.parse_args()
    targets: list[str] = args.targets
    if args.users < 2:
        raise SystemExit("--users must be at least 2 (a callee and a caller)")
    if shutil.which("sipp") is None:
        raise SystemExit("sipp missing: apt-get install sip-tester")
    kamailios = kamailio_ready(targets)
    folder = Path(tempfile.mkdtemp(prefix="sip-bench-"))
    results: dict[str, Result] = {}
    rss = ""
    if "appliance" in targets:
        config = folder / "appliance" / "appliance.toml"
        config.parent.mkdir()
        config.write_text(APPLIANCE_CONFIG.format(data=config.parent / "data"),
                          encoding="utf-8")
        appliance(config, "init")
        users = appliance_users(config, args.users)
        daemon: RunningDaemon = start_sip_daemon(config)
        try:
            host, _, port = daemon.ports["sip_udp"].rpartition(":")
            results["appliance"] = measure("appliance", (host, int(port)),
                                           folder / "run-appliance", users, args.seconds,
                                           args.only)
            rss = f", peak RSS {peak_rss_kib(daemon.process.pid) // 1024} MiB"
        finally:
            daemon.stop()
    else:  # Kamailio alone: credentials made here, no appliance store needed.
        users = [(str(1000 + n), secrets.token_hex(8)) for n in range(args.users)]
    checks: list[str] = []
    for name in kamailios:
        persisted = name == "kamailio-persisted"
        kamailio = start_kamailio(folder / name, users, persisted, KAMAILIO_CHILDREN[name])
        try:
            results[name] = measure(name, kamailio.target, folder / f"run-{name}", users,
                                    args.seconds, args.only,
                                    LogWatch(kamailio.log) if persisted else None)
            # Counted before the stop: on SIGTERM Kamailio 5.6 logs "CRITICAL: <core>
            # receive_fd(): EOF" once per child as they go, which is no fault of the run.
            errors = [text for text in kamailio.log.read_text(errors="replace").splitlines()
                      if KAMAILIO_TROUBLE.search(text)]
        finally:
            kamailio.process.terminate()
            kamailio.process.wait(10)
        checks.append(f"  {name} log: {len(errors)} ERROR lines while running, "
                      f"{refused_writes(errors)} SQLite writes refused ({kamailio.log})")
        if kamailio.location_db is not None:
            # Read after Kamailio stopped: what is on disk is what a restart would load.
            rows, distinct = location_rows(kamailio.location_db)
            expected = results[name].registered_users
            checks.append(f"  {name} location table on disk: {rows} rows, {distinct} "
                          f"users (registered {expected}) in {kamailio.location_db}")
            if rows == 0:
                print("\n".join(checks))
                raise SystemExit(f"{name}: the SQLite location table is empty after "
                                 f"{expected} users registered: nothing was persisted "
                                 f"(see {kamailio.log})")
            if distinct < expected:
                checks.append(f"  WARNING: {expected - distinct} registered users have no "
                              f"row on disk")
    print("\nresult (highest rate with zero failed calls, p99 response time at that rate):")
    for name in TARGETS:
        if name in results:
            print(line(name, results[name], rss if name == "appliance" else ""))
    if checks:
        print("checks:")
        print("\n".join(checks))
    ours = results.get("appliance")
    for key in ("register", "calls"):
        for name, why in (("kamailio", "memory-only, 4 workers: Kamailio keeps no binding "
                                       "on disk, NOT like-for-like on durability"),
                          ("kamailio-persisted", "same durability: both have the binding on "
                                                 "disk before the 200; Kamailio on 1 worker, "
                                                 "as its db_sqlite needs")):
            theirs = results.get(name)
            if ours is None or theirs is None:
                continue
            mine, peer = getattr(ours, key), getattr(theirs, key)
            if mine is None or peer is None:
                continue
            ratio = f"{mine / peer:.2f}" if peer else "nan"
            print(f"  ratio {key} appliance/{name}: {ratio}  ({why})")
    if args.keep:
        print(f"run folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"run folder {folder} removed (--keep keeps it)")


if __name__ == "__main__":
    main()
