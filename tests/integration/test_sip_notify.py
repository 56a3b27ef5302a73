"""The check-sync NOTIFY that provisioning sends through the SIP part, in process, to a
phone played by a UDP socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from appliance import config as config_mod
from appliance.events import EventBus
from appliance.routing.service import create
from appliance.service import ServiceContext
from appliance.sip.message import Request, make_response, parse
from appliance.store import Store

pytestmark = pytest.mark.integration


def test_send_notify_from_the_loop_and_from_a_thread(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text('[sip]\nlisten = "127.0.0.1:0"\ntcp_listen = ""\n', encoding="utf-8")
    config = config_mod.load(path, {})

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        service = create(ServiceContext(config, store, EventBus()))
        bound = await service.start()
        phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        phone.bind(("127.0.0.1", 0))
        phone.setblocking(False)
        port = phone.getsockname()[1]
        try:
            async def answer(user: str) -> None:
                data, source = await asyncio.wait_for(loop.sock_recvfrom(phone, 65536), 5)
                notify = parse(data)
                assert isinstance(notify, Request) and notify.method == "NOTIFY"
                assert notify.headers.get("event") == "check-sync"
                assert (notify.uri.user or "") == user and notify.uri.port == port
                assert source[1] == bound["sip_udp"].port
                await loop.sock_sendto(phone, make_response(notify, 200).to_bytes(), source)

            done = service.send_notify("127.0.0.1", port, "check-sync")
            await answer("")
            await asyncio.wait_for(done, 5)
            threaded = await asyncio.to_thread(service.send_notify, "127.0.0.1", port, "101",
                                               "check-sync")
            await answer("101")
            await asyncio.wait_for(asyncio.wrap_future(threaded), 5)
        finally:
            phone.close()
            await service.stop()

    asyncio.run(scenario())
