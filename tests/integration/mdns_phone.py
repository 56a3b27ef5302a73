"""Run in the phone namespace: publish a phone-like SIP service with python-zeroconf and
report whether the appliance's own announcement is browseable. Bounded by argv[2] seconds."""

from __future__ import annotations

import asyncio
import json
import socket
import sys

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf


async def main(address: str, seconds: float) -> None:
    azc = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    info = AsyncServiceInfo(
        "_sip._udp.local.", "Yealink SIP-T46U reception._sip._udp.local.",
        addresses=[socket.inet_aton(address)], port=5060, server="t46u.local.",
        properties={"vendor": "Yealink", "model": "SIP-T46U", "version": "108.86.0.90"})
    await azc.async_register_service(info)
    seen: dict[str, dict[str, str]] = {}
    tasks: set[asyncio.Future[None]] = set()

    def changed(zeroconf, service_type, name, state_change):  # type: ignore[no-untyped-def]
        async def resolve() -> None:
            found = AsyncServiceInfo(service_type, name)
            if await found.async_request(zeroconf, 3000):
                seen[name] = {k.decode(): (v or b"").decode() for k, v in
                              found.properties.items()}
        task = asyncio.ensure_future(resolve())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    browser = AsyncServiceBrowser(azc.zeroconf, ["_http._tcp.local."], handlers=[changed])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline and not seen:
        await asyncio.sleep(0.1)
    await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))
    print(json.dumps(seen), flush=True)
    await browser.async_cancel()
    await azc.async_unregister_service(info)
    await azc.async_close()


asyncio.run(main(sys.argv[1], float(sys.argv[2])))
