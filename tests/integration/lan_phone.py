"""Run in the phone namespace; prints JSON. Every wait bounded by a few seconds.

``pnp CAPTURE IP PORT MAC``: multicast a captured SIP PnP SUBSCRIBE to 224.0.1.75:5060, answer
the NOTIFY, and report every datagram that came back (so an extra answer, say from a SIP
socket that saw the group's datagram too, shows).
``mdns SECONDS TYPE...``: browse the service types and report each service found
(addresses, port, TXT).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any


def pnp(capture: str, ip: str, port: int, mac: str) -> dict[str, Any]:
    text = Path(capture).read_text().format(MAC=mac.upper(), IP=ip, PORT=port)
    data = ("\r\n".join(text.splitlines()) + "\r\n\r\n").encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
    sock.settimeout(0.3)
    sock.sendto(data, ("224.0.1.75", 5060))
    received: list[dict[str, str]] = []
    deadline = time.monotonic() + 4  # after the NOTIFY, linger to catch any extra answer
    while time.monotonic() < deadline:
        try:
            packet, sender = sock.recvfrom(65535)
        except TimeoutError:
            continue
        head, _, body = packet.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        received.append({"first": lines[0], "from": f"{sender[0]}:{sender[1]}",
                         "body": body.decode(errors="replace")})
        if lines[0].startswith("NOTIFY"):
            answer = "\r\n".join(["SIP/2.0 200 OK", *[line for line in lines[1:] if
                                  line.split(":")[0].lower() in
                                  ("via", "from", "to", "call-id", "cseq")],
                                  "Content-Length: 0", "", ""])
            sock.sendto(answer.encode(), sender)
            deadline = min(deadline, time.monotonic() + 1.5)
    return {"received": received}


async def mdns(seconds: float, types: list[str]) -> dict[str, Any]:
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    azc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    seen: dict[str, Any] = {}
    tasks: set[asyncio.Future[None]] = set()

    def changed(zeroconf, service_type, name, state_change):  # type: ignore[no-untyped-def]
        async def resolve() -> None:
            info = AsyncServiceInfo(service_type, name)
            if await info.async_request(zeroconf, 3000):
                seen[name] = {"addresses": info.parsed_addresses(IPVersion.V4Only),
                              "port": info.port,
                              "properties": {k.decode(): (v or b"").decode() for k, v in
                                             info.properties.items()}}
        task = asyncio.ensure_future(resolve())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    browser = AsyncServiceBrowser(azc.zeroconf, types, handlers=[changed])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline and len(seen) < len(types):
        await asyncio.sleep(0.1)
    await browser.async_cancel()
    await azc.async_close()
    return seen


if sys.argv[1] == "pnp":
    print(json.dumps(pnp(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])))
else:
    print(json.dumps(asyncio.run(mdns(float(sys.argv[2]), sys.argv[3:]))))
