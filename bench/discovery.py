"""Discovery benchmark, inside a network namespace pair made here (root needed):
1. an SNMP sweep of 192.0.2.0/24 with one answering host (net-snmp's snmpd), timed;
2. 200 SIP PnP SUBSCRIBEs to the running daemon, SUBSCRIBE-to-NOTIFY p50/p99.
Targets (issue 4): the sweep under 10 s; the PnP answer under 50 ms at p99."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import appliance, start_daemon, write_config  # noqa: E402
from tests.integration.netns import PHONE_IP, netns_pair  # noqa: E402
from tests.integration.test_discovery_snmp import SNMPD_CONF, SWEEP  # noqa: E402

SUBSCRIBES = 200


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-discovery-"))
    conf = folder / "snmpd.conf"
    conf.write_text(SNMPD_CONF.format(ip=PHONE_IP))
    with netns_pair() as pair:
        agent = subprocess.Popen(
            pair.cmd(pair.phone, "/usr/sbin/snmpd", "-f", "-Lo", "-C", "-c", str(conf)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"MIBS": ""})
        try:
            time.sleep(1)
            started = time.monotonic()
            sweep = pair.run(pair.appliance, sys.executable, "-c", SWEEP, "192.0.2.0/24",
                             "v2c", timeout=120)
            elapsed = time.monotonic() - started
            found = json.loads(sweep.stdout or "[]")
            print(f"snmp sweep of a /24, 2 communities: {elapsed:.2f} s (process start "
                  f"included), {len(found)} host(s) found")
        finally:
            agent.terminate()
        config = write_config(folder, extra=f"""
[discovery]
pnp = true
interfaces = ["{pair.appliance_dev}"]
""")
        appliance(config, "init")
        daemon = start_daemon(config, wrap=pair.cmd(pair.appliance))
        try:
            run = pair.run(pair.phone, sys.executable, str(ROOT / "bench" / "_pnp_phones.py"),
                           str(ROOT / "tests" / "data" / "discovery" / "subscribe_yealink.txt"),
                           PHONE_IP, str(SUBSCRIBES), timeout=SUBSCRIBES * 3)
        finally:
            daemon.stop()
    times = json.loads(run.stdout or "[]")
    answered = sorted(t for t in times if t is not None)
    if not answered:
        raise SystemExit(f"no NOTIFY received: {run.stderr}")
    p99 = answered[min(len(answered) - 1, int(len(answered) * 0.99))]
    print(f"pnp: {len(answered)}/{SUBSCRIBES} answered; SUBSCRIBE->NOTIFY "
          f"p50 {statistics.median(answered):.1f} ms, p99 {p99:.1f} ms, max {answered[-1]:.1f} ms")


if __name__ == "__main__":
    main()
