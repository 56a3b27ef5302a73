"""Codec benchmark: parse time of a plain REGISTER and of the 16 KB hostile messages kept
in the tests (catastrophic regex backtracking shows here as a blow-up against the plain
message measured in the same run)."""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.errors import SipParseError  # noqa: E402
from appliance.sip.message import parse  # noqa: E402
from tests.unit.test_sip_fuzz import DATA, HOSTILE  # noqa: E402

REGISTER = (b"REGISTER sip:pbx.example.com SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1;rport\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:101@pbx.example.com>;tag=a1\r\n"
            b"To: <sip:101@pbx.example.com>\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 REGISTER\r\n"
            b"Contact: <sip:101@192.0.2.10:5062;ob>;expires=3600\r\nContent-Length: 0\r\n\r\n")


def per_parse(data: bytes, rounds: int = 200) -> float:
    """Median seconds for one parse attempt of ``data``."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        with contextlib.suppress(SipParseError):
            parse(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    plain = per_parse(REGISTER)
    print(f"REGISTER: {plain * 1e6:.0f} us per parse")
    cases = {name: (text + "\r\n\r\n").encode() for name, text in HOSTILE.items()}
    cases["tel backtracking"] = (DATA / "bad_tel_backtracking.dat").read_bytes()
    for name, data in sorted(cases.items()):
        took = per_parse(data, rounds=20)
        print(f"{name:>18}: {took * 1e3:7.2f} ms ({took / plain:6.0f}x the REGISTER, "
              f"{len(data)} bytes)")


if __name__ == "__main__":
    main()
