"""SIP rates: SIPp against the appliance and, in the same run, against Kamailio.

Two measurements, each stepped up until the first rate with a failed call or a
retransmission (a request unanswered within T1, 500 ms):
- REGISTER with digest (401, REGISTER with credentials, 200) over UDP, users from a CSV;
- calls between two registered SIPp instances: INVITE, 407, ACK, INVITE with credentials,
  100, 180, 200, ACK, BYE, 200 through the proxy with Record-Route.
For each target it prints the highest rate with zero failures, the p99 response time at
that rate, the appliance's peak RSS, and the ratio appliance/Kamailio. Everything runs on
127.0.0.1. Kamailio (Debian's package) is installed here if missing; run as root or skip it.

    python bench/sip_rate.py [--seconds 3] [--users 200]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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

KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children=4
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
modparam("usrloc", "db_mode", 0)

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


def sweep(name: str, rates: tuple[int, ...], make: object, folder: Path,
          seconds: float) -> tuple[int, float | None]:
    """The highest rate with zero failures, and its p99."""
    best, best_p99 = 0, None
    for rate in rates:
        ok, p99 = run_step(make(rate), folder, seconds)  # type: ignore[operator]
        print(f"  {name}: {rate}/s {'ok' if ok else 'FAILED'}, p99 "
              f"{'-' if p99 is None else f'{p99:.1f} ms'}", flush=True)
        if not ok:
            break
        best, best_p99 = rate, p99
    return best, best_p99


def measure(label: str, target: tuple[str, int], folder: Path, users: list[tuple[str, str]],
            seconds: float) -> dict[str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    inf = folder / "users.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(
        f"{u};[authentication username={u} password={p}]\n" for u, p in users[1:]))
    print(f"{label}:", flush=True)
    reg_port = free_port()
    reg, reg_p99 = sweep("REGISTER", REGISTER_RATES, lambda r: sipp(
        "bench_register.xml", target, reg_port, "-inf", str(inf), "-key", "expires", "3600",
        "-r", str(r), "-m", str(int(r * seconds)), "-l", str(r * 4)), folder, seconds)
    callee, caller = users[0], users[1]
    uas_port = free_port()
    registered = subprocess.run(sipp("register.xml", target, uas_port, "-s", callee[0],
                                     "-au", callee[0], "-ap", callee[1], "-m", "1",
                                     "-key", "expires", "3600"), cwd=folder,
                                capture_output=True, text=True, timeout=60, check=False)
    if registered.returncode != 0:
        raise SystemExit(f"{label}: the callee could not register:\n{registered.stderr}")
    uas = subprocess.Popen(sipp("uas_call.xml", target, uas_port, "-s", callee[0]), cwd=folder,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        uac_port = free_port()
        calls, call_p99 = sweep("calls", CALL_RATES, lambda r: sipp(
            "uac_call.xml", target, uac_port, "-s", callee[0], "-key", "caller", caller[0],
            "-au", caller[0], "-ap", caller[1], "-r", str(r), "-m", str(int(r * seconds)),
            "-l", str(r * 4)), folder, seconds)
    finally:
        uas.terminate()
        uas.wait(10)
    return {"register": reg, "register_p99": reg_p99, "calls": calls, "call_p99": call_p99}


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


def start_kamailio(folder: Path, users: list[tuple[str, str]]) -> tuple[subprocess.Popen[bytes],
                                                                          tuple[str, int]]:
    db = folder / "db"
    db.mkdir(parents=True)
    (db / "version").write_text("table_name(str) table_version(int)\nsubscriber:7\n")
    rows = "".join(f"{n}:{u}:127.0.0.1:{p}:::\n" for n, (u, p) in enumerate(users, 1))
    (db / "subscriber").write_text("id(int,auto) username(str) domain(str) password(str) "
                                   "ha1(str,null) ha1b(str,null) email_address(str,null)\n" + rows)
    port = free_port()
    cfg = folder / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.format(port=port, modules=KAMAILIO_MODULES, db=db))
    process = subprocess.Popen(["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "512",
                                "-P", str(folder / "kamailio.pid")],
                               stdout=(folder / "kamailio.log").open("wb"),
                               stderr=subprocess.STDOUT)
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
        raise SystemExit("kamailio did not start:\n" + (folder / "kamailio.log").read_text())
    return process, ("127.0.0.1", port)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="load per step")
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp missing: apt-get install sip-tester")
    if shutil.which("kamailio") is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q",
                        "--no-install-recommends", "kamailio"], check=False)
    folder = Path(tempfile.mkdtemp(prefix="sip-bench-"))
    config = folder / "appliance" / "appliance.toml"
    config.parent.mkdir()
    config.write_text(f"""
[paths]
data = "{config.parent / 'data'}"
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
""", encoding="utf-8")
    appliance(config, "init")
    users = appliance_users(config, args.users)
    daemon: RunningDaemon = start_sip_daemon(config)
    try:
        host, _, port = daemon.ports["sip_udp"].rpartition(":")
        ours = measure("appliance", (host, int(port)), folder / "run-appliance", users,
                       args.seconds)
        rss = peak_rss_kib(daemon.process.pid)
    finally:
        daemon.stop()
    theirs: dict[str, object] | None = None
    if shutil.which("kamailio"):
        kamailio, target = start_kamailio(folder / "kamailio", users)
        try:
            theirs = measure("kamailio", target, folder / "run-kamailio", users, args.seconds)
        finally:
            kamailio.terminate()
            kamailio.wait(10)
    print("\nresult (highest rate with zero failed calls, p99 response time at that rate):")
    print(f"  appliance: REGISTER {ours['register']}/s (p99 {ours['register_p99']} ms), "
          f"calls {ours['calls']}/s (p99 {ours['call_p99']} ms), peak RSS {rss // 1024} MiB")
    if theirs is not None:
        print(f"  kamailio:  REGISTER {theirs['register']}/s (p99 {theirs['register_p99']} ms),"
              f" calls {theirs['calls']}/s (p99 {theirs['call_p99']} ms)")
        for key in ("register", "calls"):
            mine, peer = int(ours[key]), int(theirs[key])  # type: ignore[call-overload]
            print(f"  ratio {key}: {mine / peer if peer else float('nan'):.2f}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
