"""Phone side of the PnP benchmark: N SUBSCRIBEs (distinct MACs) one after another; prints
each SUBSCRIBE-to-NOTIFY time in ms as JSON. Bounded: 2 s per SUBSCRIBE at most."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path


def main(capture: str, ip: str, count: int) -> None:
    template = Path(capture).read_text()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, 5062))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
    times: list[float | None] = []
    for i in range(count):
        mac = f"001565{i:06X}"
        text = template.format(MAC=mac, IP=ip, PORT=5062).replace("1472930893", f"bench{i}")
        data = ("\r\n".join(text.splitlines()) + "\r\n\r\n").encode()
        started = time.monotonic()
        sock.sendto(data, ("224.0.1.75", 5060))
        got = None
        while got is None and time.monotonic() - started < 2:
            sock.settimeout(max(0.01, 2 - (time.monotonic() - started)))
            try:
                packet, sender = sock.recvfrom(65535)
            except TimeoutError:
                break
            if packet.startswith(b"NOTIFY") and f"bench{i}@".encode() in packet:
                got = (time.monotonic() - started) * 1000
                head = packet.split(b"\r\n\r\n")[0].decode().split("\r\n")
                keep = [h for h in head[1:] if h.split(":")[0].lower() in
                        ("via", "from", "to", "call-id", "cseq")]
                sock.sendto("\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0", "", ""])
                            .encode(), sender)
        times.append(got)
    print(json.dumps(times))


main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
