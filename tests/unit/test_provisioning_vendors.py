"""Vendors: real User-Agents identified, file names routed, every template well-formed."""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.provisioning.identify import from_user_agent, identify, vendor_of_oui
from appliance.provisioning.render import Account, Renderer, Site
from appliance.provisioning.vendors import BY_NAME, VENDORS

DATA = Path(__file__).resolve().parents[1] / "data" / "provisioning"
AGENTS = tomllib.loads((DATA / "user_agents.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", sorted(AGENTS))
def test_real_user_agents_are_identified(key: str) -> None:
    expected = AGENTS[key]
    found = from_user_agent(expected["ua"])
    assert found is not None
    assert (found.vendor, found.model, found.firmware) == (
        expected["vendor"], expected["model"], expected["firmware"])
    assert found.mac == expected.get("mac")


def test_unknown_user_agents_are_nobody() -> None:
    for ua in ("", "curl/8.0", "Mozilla/5.0 (X11; Linux x86_64)", "Yealink", "x" * 5000):
        assert from_user_agent(ua) is None


@pytest.mark.parametrize(("path", "vendor", "kind", "mac", "model"), [
    ("y000000000108.cfg", "yealink", "common", None, None),
    ("001565aabbcc.cfg", "yealink", "device", "001565aabbcc", None),
    ("001565aabbcc.boot", "yealink", "miss", "001565aabbcc", None),
    ("000000000000.cfg", "polycom", "common", None, None),
    ("0004f2aabbcc-user.cfg", "polycom", "device", "0004f2aabbcc", None),
    ("0004f2aabbcc.cfg", "polycom", "miss", "0004f2aabbcc", None),
    ("0004f2aabbcc-phone.cfg", "polycom", "upload", "0004f2aabbcc", None),
    ("spa504G.cfg", "cisco", "common", None, "504G"),
    ("00562baabbcc.xml", "cisco", "device", "00562baabbcc", None),
    ("CP-7841-3PCC.xml", "cisco", "common", None, "7841"),
    ("Cisco/CP-7841-3PCC/00562baabbcc.cfg", "cisco", "device", "00562baabbcc", "CP-7841-3PCC"),
    ("Grandstream/cfg000b82aabbcc.xml", "grandstream", "device", "000b82aabbcc", None),
    ("cfg000b82aabbcc", "grandstream", "miss", "000b82aabbcc", None),
    ("cfggxp2170.xml", "grandstream", "common", None, "gxp2170"),
    ("cfg.xml", "grandstream", "common", None, None),
    ("snom710.htm", "snom", "common", None, "710"),
    ("snom710-000413AABBCC.htm", "snom", "device", "000413aabbcc", "710"),
    ("000413AABBCC.xml", "snom", "device", "000413aabbcc", None),
    ("f0X4hw1.100.cfg", "fanvil", "common", None, "X4"),
    ("F0V00X300000.cfg", "fanvil", "common", None, "V00X300000"),
    ("Fanvil/0c383eaabbcc.cfg", "fanvil", "device", "0c383eaabbcc", None),
    ("0c383eaabbcc.cfg", "fanvil", "device", "0c383eaabbcc", None),  # by OUI
])
def test_file_names_route_to_the_right_vendor(path: str, vendor: str, kind: str,
                                              mac: str | None, model: str | None) -> None:
    found = identify(path, None)
    assert found is not None
    assert (found.vendor.name, found.kind, found.mac, found.model) == (vendor, kind, mac, model)


def test_user_agent_and_inventory_break_ties() -> None:
    fanvil = from_user_agent(AGENTS["fanvil"]["ua"])
    request = identify("aabbccddeeff.cfg", fanvil)
    assert request is not None and request.vendor.name == "fanvil"
    request = identify("aabbccddeeff.cfg", None, lambda mac: "fanvil")
    assert request is not None and request.vendor.name == "fanvil"
    assert identify("ffffffffffff.cfg", None) is None  # a group address is no phone
    assert vendor_of_oui("805ec0000001") == "yealink"


SITE = Site("192.0.2.10", 5060, "udp", "ntp.example", "Asia/Ho_Chi_Minh", "de")
HOSTILE = 'Ann <b>&amp; "O\'Neil"\r\n#x = 1'


def _render(template: str, vendor: str, account: Account, admin: str = "") -> bytes:
    renderer = Renderer()
    ctx = renderer.context(BY_NAME[vendor], SITE, datetime(2026, 1, 1, tzinfo=UTC),
                           mac="001565aabbcc", model="T46U", account=account,
                           prov={"base": "tftp://192.0.2.10", "http_base": "http://192.0.2.10",
                                 "user": "001565aabbcc" if admin else "",
                                 "password": "p4ss" if admin else ""},
                           admin_password=admin,
                           firmware={"url": "http://192.0.2.10/firmware/x.rom", "version": "2"})
    return renderer.render(template, ctx)


def _templates() -> list[tuple[str, str]]:
    return [(v.name, r.template) for v in VENDORS for r in v.routes if r.template]


@pytest.mark.parametrize(("vendor", "template"), _templates())
def test_every_template_renders_in_its_format(vendor: str, template: str) -> None:
    account = Account(True, "an.nguyen", HOSTILE, "101", "101", "S3cretPassw0rd")
    data = _render(template, vendor, account, admin="adminpw")
    text = data.decode()
    if template.startswith("yealink/"):
        lines = text.splitlines()
        assert lines[0] == "#!version:1.0.0.1"
        for line in lines[1:]:
            assert not line or line.startswith("#") or " = " in line, line
        assert not any(line.startswith("#x") for line in lines)  # no line injected
    else:
        root = ET.fromstring(data)
        assert root is not None
        values = [*root.itertext(), *(v for e in root.iter() for v in e.attrib.values())]
        if account.display_name in text or "&lt;b&gt;" in text:
            assert any('Ann <b>&amp; "O\'Neil"' in v for v in values)  # escaped, read back


@pytest.mark.parametrize(("vendor", "template"),
                         [t for t in _templates() if any(k in t[1] for k in (
                             "mac.cfg", "user.cfg", "device", "files"))])
def test_switched_off_account_has_no_secret(vendor: str, template: str) -> None:
    data = _render(template, vendor, Account.off())
    assert b"S3cretPassw0rd" not in data and b"adminpw" not in data and b"p4ss" not in data
    assert b"Unassigned" in data or template.endswith("files.htm")


def test_time_zone_and_language_per_vendor() -> None:
    yealink = _render("yealink/common.cfg", "yealink", Account.off()).decode()
    assert "local_time.time_zone = +7" in yealink and "lang.gui = German" in yealink
    cisco = _render("cisco/spa.xml", "cisco", Account.off()).decode()
    assert "<Time_Zone>GMT+07:00</Time_Zone>" in cisco
    polycom = _render("polycom/common.cfg", "polycom", Account.off()).decode()
    assert 'gmtOffset="25200"' in polycom and "German_Germany" in polycom
    assert "<P64>1140</P64>" in _render("grandstream/common.xml", "grandstream",
                                         Account.off()).decode()
