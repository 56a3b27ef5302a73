"""Calls from outside through a connection, both B2BUA legs, against the appliance's own
proxied calls and Kamailio proxying the same calls, in one run.

- held: SIPp as the carrier (on 127.0.0.2, an IP-authenticated connection) sets up
  ``--held`` calls at once to the office number, each held ``--hold`` seconds, answered by a
  registered SIPp phone; the daemon's RSS is read while they are up (target <= 120 MiB).
- outside: the same carrier calls, stepped up until the first rate with a failed call or a
  retransmission; p99 set-up time (INVITE to 200, target < 100 ms) at that rate, and the
  highest rate whose p99 stayed under 100 ms.
- proxied: extension-to-extension calls through the same daemon (``sip_rate.py``'s calls).
- kamailio: Kamailio 5.6 (memory-only usrloc, 4 workers) proxying those calls.
Targets: outside >= 0.5x proxied and >= 0.25x kamailio. Everything runs on 127.0.0.x.

    python bench/outside_calls.py [--seconds 3] [--held 100] [--hold 60] [--only outside]
                                  [--keep]

``--held 0`` skips the held calls; ``--only outside`` the proxied and Kamailio runs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sip_rate as sr

from appliance.callplan.model import Server
from appliance.config import load
from appliance.directory.office import CallPlanDirectory
from appliance.store import open_store
from tests.integration.conftest import appliance
from tests.integration.sip_helpers import start_sip_daemon

CARRIER_HOST = "127.0.0.2"
DID = "+842873001234"
P99_TARGET_MS = 100.0


def carrier(target: tuple[str, int], port: int, *args: str) -> list[str]:
    """SIPp as the carrier on CARRIER_HOST calling the office number."""
    command = sr.sipp("bench_carrier_call.xml", target, port, "-s", DID.lstrip("+"), *args)
    command[command.index("-i") + 1] = CARRIER_HOST
    return command


def office(config: Path, callee: str, carrier_port: int) -> None:
    """The carrier's connection, its number ringing ``callee``."""
    store = open_store(load(config, {}).store.url, create=False)
    try:
        plan = CallPlanDirectory(store, actor="bench")
        plan.add_connection("carrier", kind="ip", servers=[Server(CARRIER_HOST, carrier_port)],
                            allowed_sources=[f"{CARRIER_HOST}/32"], caller_id=DID,
                            number_format="intl_digits")
        plan.add_number(DID, "carrier", f"extension:{callee}", contacts_map=False)
    finally:
        store.dispose()


def held_calls(target: tuple[str, int], folder: Path, pid: int, count: int,
               hold: float) -> tuple[bool, int]:
    """``count`` calls up at once for ``hold`` s: (all set up and ended cleanly, the
    daemon's highest RSS in MiB while they were up)."""
    command = carrier(target, sr.free_port(), "-m", str(count), "-l", str(count), "-r",
                      str(max(1, count // 2)), "-d", str(int(hold * 1000)))
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    highest = 0
    deadline = time.monotonic() + hold + 60
    while process.poll() is None and time.monotonic() < deadline:
        highest = max(highest, sr.rss_mib(pid))
        time.sleep(0.5)
    if process.poll() is None:
        process.kill()
    _, err = process.communicate()
    if process.returncode != 0:
        print(f"  held calls failed: {err[-500:]}", flush=True)
    return process.returncode == 0, highest


def outside_sweep(make: Callable[[int], list[str]], folder: Path, seconds: float
                  ) -> tuple[int, float | None, int]:
    """``sip_rate.sweep`` for the outside calls: (the highest rate with zero failures, its
    p99, the highest rate whose p99 was under P99_TARGET_MS)."""
    best, best_p99, fast = 0, None, 0
    for rate in sr.CALL_RATES:
        ok, p99 = sr.run_step(make(rate), folder, seconds)
        print(f"  outside calls: {rate}/s {'ok' if ok else 'FAILED'}, p99 {sr.ms(p99)}",
              flush=True)
        if not ok:
            break
        best, best_p99 = rate, p99
        if p99 is not None and p99 < P99_TARGET_MS:
            fast = rate
    return best, best_p99, fast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="load per step")
    parser.add_argument("--held", type=int, default=100, help="concurrent calls held")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds they are held")
    parser.add_argument("--only", choices=("all", "outside"), default="all",
                        help="outside: skip the proxied and Kamailio runs")
    parser.add_argument("--keep", action="store_true", help="keep the run folder")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp missing: apt-get install sip-tester")
    folder = Path(tempfile.mkdtemp(prefix="outside-bench-"))
    config = folder / "appliance" / "appliance.toml"
    config.parent.mkdir()
    config.write_text(sr.APPLIANCE_CONFIG.format(data=config.parent / "data"), encoding="utf-8")
    appliance(config, "init")
    users = sr.appliance_users(config, 4)
    inside = users[2]  # the phone the office number rings (users 0 and 1: proxied calls)
    carrier_port = sr.free_port()
    office(config, inside[0], carrier_port)
    daemon = start_sip_daemon(config)
    results: dict[str, tuple[int, float | None]] = {}
    held_ok, held_rss, fast = True, 0, 0
    try:
        host, _, port = daemon.ports["sip_udp"].rpartition(":")
        target = (host, int(port))
        run = folder / "run-outside"
        run.mkdir()
        phone_port = sr.free_port()
        registered = subprocess.run(sr.sipp(
            "register.xml", target, phone_port, "-s", inside[0], "-au", inside[0], "-ap",
            inside[1], "-m", "1", "-key", "expires", "3600"), cwd=run, capture_output=True,
            text=True, timeout=60, check=False)
        if registered.returncode != 0:
            raise SystemExit(f"the phone could not register:\n{registered.stderr}")
        phone = subprocess.Popen(sr.sipp("uas_call.xml", target, phone_port, "-s", inside[0]),
                                 cwd=run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            if args.held:
                print(f"held: {args.held} calls from the carrier up for {args.hold:.0f} s",
                      flush=True)
                held_ok, held_rss = held_calls(target, run, daemon.process.pid, args.held,
                                               args.hold)
                print(f"  held: {'ok' if held_ok else 'FAILED'}, daemon RSS up to "
                      f"{held_rss} MiB", flush=True)
            print("outside (carrier -> connection -> B2BUA -> phone):", flush=True)
            best, best_p99, fast = outside_sweep(lambda r: carrier(
                target, sr.free_port(), "-r", str(r), "-m", str(int(r * args.seconds)),
                "-l", str(r * 4)), run, args.seconds)
            results["outside"] = (best, best_p99)
        finally:
            phone.terminate()
            phone.wait(10)
        if args.only == "all":
            proxied = sr.measure("appliance", target, folder / "run-proxied", users,
                                 args.seconds, "calls")
            results["proxied"] = (proxied.calls or 0, proxied.call_p99)
        peak = sr.peak_rss_kib(daemon.process.pid) // 1024
    finally:
        daemon.stop()
    if args.only == "all" and sr.kamailio_ready(["kamailio"]):
        kamailio = sr.start_kamailio(folder / "kamailio", users, False,
                                     sr.KAMAILIO_CHILDREN["kamailio"])
        try:
            theirs = sr.measure("kamailio", kamailio.target, folder / "run-kamailio", users,
                                args.seconds, "calls")
            results["kamailio"] = (theirs.calls or 0, theirs.call_p99)
        finally:
            kamailio.process.terminate()
            kamailio.process.wait(10)
    print("\nresult (highest rate with zero failed calls, p99 at that rate):")
    if args.held:
        print(f"  held: {args.held} outside calls for {args.hold:.0f} s "
              f"{'ok' if held_ok else 'FAILED'}, daemon RSS up to {held_rss} MiB")
    for name, (rate, p99) in results.items():
        what = "set-up" if name == "outside" else "response"
        print(f"  {name + ':':10} {rate}/s, p99 {what} {sr.ms(p99)}")
    print(f"  outside calls with p99 set-up under {P99_TARGET_MS:.0f} ms: up to {fast}/s")
    print(f"  daemon peak RSS over its whole run: {peak} MiB")
    outside = results["outside"][0]
    for name in ("proxied", "kamailio"):
        if name in results and results[name][0]:
            print(f"  ratio outside/{name}: {outside / results[name][0]:.2f}")
    if args.keep:
        print(f"run folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"run folder {folder} removed (--keep keeps it)")


if __name__ == "__main__":
    main()
