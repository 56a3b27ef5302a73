"""Run in the phone namespace: multicast a captured PnP SUBSCRIBE, answer the NOTIFY, and
print what came back as JSON. Everything bounded by a few seconds, like a real phone."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path


def main(capture: str, ip: str, port: int, mac: str) -> None:
    text = Path(capture).read_text().format(MAC=mac.upper(), IP=ip, PORT=port)
    data = ("\r\n".join(text.splitlines()) + "\r\n\r\n").encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
    sock.settimeout(0.5)
    started = time.monotonic()
    sock.sendto(data, ("224.0.1.75", 5060))
    result: dict[str, object] = {}
    deadline = started + 5
    while time.monotonic() < deadline and "notify_body" not in result:
        try:
            packet, sender = sock.recvfrom(65535)
        except TimeoutError:
            continue
        head, _, body = packet.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        if lines[0].startswith("SIP/2.0"):
            result["ok"] = lines[0]
            result["ok_expires"] = headers.get("expires")
            result["ok_ms"] = (time.monotonic() - started) * 1000
        elif lines[0].startswith("NOTIFY"):
            result.update(notify_body=body.decode(), notify_event=headers.get("event"),
                          notify_state=headers.get("subscription-state"),
                          notify_type=headers.get("content-type"),
                          notify_call_id=headers.get("call-id"),
                          notify_ms=(time.monotonic() - started) * 1000)
            answer = "\r\n".join(["SIP/2.0 200 OK", *[line for line in lines[1:] if
                                  line.split(":")[0].lower() in
                                  ("via", "from", "to", "call-id", "cseq")],
                                  "Content-Length: 0", "", ""])
            sock.sendto(answer.encode(), sender)
    print(json.dumps(result))


main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
