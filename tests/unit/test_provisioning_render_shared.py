"""Shared files rendered once per context; nothing of one phone ever shared."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from appliance.errors import ProvisioningError
from appliance.provisioning.render import Account, Renderer, Site
from appliance.provisioning.vendors import BY_NAME

SITE = Site("192.0.2.10", 5060, "udp", "ntp.example", "Asia/Ho_Chi_Minh", "en")
NOW = datetime(2026, 12, 2, tzinfo=UTC)
TEMPLATE = "yealink/common.cfg"


def _ctx(renderer: Renderer, site: Site = SITE, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"mac": None, "model": "T46U", "account": Account.off(),
                            "prov": {"base": f"tftp://{site.sip_host}",
                                     "http_base": f"http://{site.sip_host}"}}
    args.update(kw)
    return renderer.context(BY_NAME["yealink"], site, NOW, **args)


def test_a_shared_file_is_rendered_once_per_context() -> None:
    renderer = Renderer(shared_memo=2)
    first = renderer.render_shared(TEMPLATE, _ctx(renderer))
    assert first == renderer.render(TEMPLATE, _ctx(renderer))
    assert renderer.render_shared(TEMPLATE, _ctx(renderer)) is first  # kept
    other = Site("198.51.100.1", 5060, "udp", "ntp.example", "Asia/Ho_Chi_Minh", "en")
    moved = renderer.render_shared(TEMPLATE, _ctx(renderer, other))
    assert b"198.51.100.1" in moved and b"192.0.2.10" not in moved
    renderer.render_shared(TEMPLATE, _ctx(renderer, model="T54W"))  # the first falls out
    assert renderer.render_shared(TEMPLATE, _ctx(renderer)) is not first
    assert len(renderer._shared) == 2


@pytest.mark.parametrize("kw", [
    {"mac": "001565aabbcc"},
    {"account": Account(True, "101", "Ann", "101", "101", "S3cret")},
    {"admin_password": "adm1n"},
    {"prov": {"base": "http://192.0.2.10", "http_base": "http://192.0.2.10",
              "user": "001565aabbcc", "password": "p4ss"}},
])
def test_nothing_of_one_phone_is_ever_shared(kw: dict[str, Any]) -> None:
    renderer = Renderer()
    with pytest.raises(ProvisioningError):
        renderer.render_shared(TEMPLATE, _ctx(renderer, **kw))
    assert not renderer._shared
