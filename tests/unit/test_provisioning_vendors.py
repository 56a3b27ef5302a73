"""Vendors: real User-Agents identified, file names routed, every template well-formed."""

from __future__ import annotations

import os
import re
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
    if template.startswith("yealink/") and template.endswith(".cfg"):
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
    assert "local_time.time_zone_name = Thailand(Bangkok)" in yealink
    assert "local_time.summer_time = 0" in yealink
    cisco = _render("cisco/spa.xml", "cisco", Account.off()).decode()
    assert "<Time_Zone>GMT+07:00</Time_Zone>" in cisco
    polycom = _render("polycom/common.cfg", "polycom", Account.off()).decode()
    assert 'gmtOffset="25200"' in polycom and "German_Germany" in polycom
    assert 'tcpIpApp.sntp.address.overrideDHCP="1"' in polycom
    assert "<P64>TZX-7</P64>" in _render("grandstream/common.xml", "grandstream",
                                         Account.off()).decode()


# -- golden files: each vendor's file as its firmware reads it (keys: docs/vendors.md) ---------
# After a deliberate change: UPDATE_GOLDEN=1 pytest tests/unit/test_provisioning_vendors.py

GOLDEN = DATA / "golden"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
# (vendor, model line, model, MAC, {file name: template})
LINES = [
    ("yealink", "t4x", "SIP-T46U", "001565aabbcc",
     {"y000000000108.cfg": "yealink/common.cfg", "001565aabbcc.cfg": "yealink/mac.cfg"}),
    ("polycom", "vvx", "VVX 400", "0004f2aabbcc",
     {"000000000000.cfg": "polycom/master.cfg", "polycom-common.cfg": "polycom/common.cfg",
      "0004f2aabbcc-user.cfg": "polycom/user.cfg"}),
    ("cisco", "spa", "SPA504G", "00562baabbcc",
     {"spa504G.cfg": "cisco/spa.xml", "00562baabbcc.xml": "cisco/device-spa.xml"}),
    ("cisco", "mpp", "CP-7841-3PCC", "00562baabbcd",
     {"7841-3PCC.xml": "cisco/mpp.xml",
      "Cisco/CP-7841-3PCC/00562baabbcd.cfg": "cisco/device-mpp.xml"}),
    ("grandstream", "gxp21xx", "GXP2170", "000b82aabbcc",
     {"cfggxp2170.xml": "grandstream/common.xml", "cfg000b82aabbcc.xml": "grandstream/device.xml"}),
    ("grandstream", "grp26xx", "GRP2612", "c074adaabbcc",
     {"cfggrp2612.xml": "grandstream/common.xml", "cfgc074adaabbcc.xml": "grandstream/device.xml"}),
    ("snom", "7xx", "710", "000413aabbcc",
     {"snom710.htm": "snom/common.htm", "snom710-000413AABBCC.htm": "snom/files.htm",
      "000413AABBCC.xml": "snom/device.xml", "snom710-firmware.xml": "snom/firmware.xml"}),
    ("snom", "dxxx", "D785", "000413aabbcd",
     {"snomD785.htm": "snom/common.htm", "000413AABBCD.xml": "snom/device.xml"}),
    ("fanvil", "x-old", "X4", "0c383eaabbcc",
     {"f0X4hw1.100.cfg": "fanvil/common.cfg", "0c383eaabbcc.cfg": "fanvil/device.cfg"}),
    ("fanvil", "x-u", "X4U", "0c383eaabbcd",
     {"f0X4Uhw1.100.cfg": "fanvil/common.cfg", "0c383eaabbcd.cfg": "fanvil/device.cfg"}),
]
# state -> (account, provisioning credentials?, admin password, zone, language, firmware?)
STATES: dict[str, tuple[Account, bool, str, str, str, bool]] = {
    "assigned": (Account(True, "an.nguyen", "Nguyễn Văn An", "101", "101", "S3cretPassw0rd"),
                 True, "Adm1nPw", "Asia/Ho_Chi_Minh", "vi", True),
    "welcome": (Account.off(), False, "", "Asia/Ho_Chi_Minh", "vi", False),
    # What a disabled or dismissed phone gets; rendered in DST zones to cover those branches.
    "disabled": (Account.off(), False, "", "America/New_York", "fr", False),
}


def _golden_cases() -> list[tuple[str, str, str, str, str, str, str]]:
    return [(vendor, line, model, mac, state, name, template)
            for vendor, line, model, mac, files in LINES
            for state in STATES for name, template in files.items()
            if state == "assigned" or not name.endswith("-firmware.xml")]


def _render_state(vendor: str, model: str, mac: str, state: str, name: str,
                  template: str) -> bytes:
    account, creds, admin, zone, language, firmware = STATES[state]
    if vendor == "cisco" and state == "disabled":
        zone = "Europe/Berlin"
    site = Site("192.0.2.10", 5060, "udp", "ntp.example", zone, language)
    common = not any(mac in n.lower() for n in (name,))
    prov = {"base": "http://192.0.2.10", "http_base": "http://192.0.2.10", "path": name}
    if creds and not common:
        prov.update(user=mac, password="d3v1cepw")
    renderer = Renderer()
    ctx = renderer.context(
        BY_NAME[vendor], site, NOW, mac=None if common else mac, model=model,
        account=Account.off() if common else account, prov=prov,
        admin_password="" if common else admin,
        firmware={"url": f"http://192.0.2.10/firmware/{vendor}/{model}-2.0-fw.bin",
                  "version": "2.0"} if firmware else None)
    return renderer.render(template, ctx)


@pytest.mark.parametrize(("vendor", "line", "model", "mac", "state", "name", "template"),
                         _golden_cases())
def test_rendered_files_match_their_golden_files(vendor: str, line: str, model: str, mac: str,
                                                 state: str, name: str, template: str) -> None:
    data = _render_state(vendor, model, mac, state, name, template)
    golden = GOLDEN / vendor / line / state / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(data)
    assert data == golden.read_bytes(), f"{golden} differs (UPDATE_GOLDEN=1 regenerates it)"
    _parses(vendor, data)
    if state != "assigned":
        for secret in (b"S3cretPassw0rd", b"Adm1nPw", b"d3v1cepw"):
            assert secret not in data


def _parses(vendor: str, data: bytes) -> None:
    text = data.decode("utf-8")
    if vendor == "yealink":
        lines = text.splitlines()
        assert lines[0] == "#!version:1.0.0.1" and text.endswith("\n")
        keys = [line.split(" = ", 1)[0] for line in lines[1:] if not line.startswith("#")]
        assert all(re.fullmatch(r"[a-z0-9_.]+", k) for k in keys), keys
        assert len(keys) == len(set(keys)), "a key set twice"
    else:
        root = ET.fromstring(data)
        tags = [e.tag for e in root.iter()]
        assert all(re.fullmatch(r"[A-Za-z][\w.-]*", t) for t in tags), tags


def _site_file(vendor: str, template: str, zone: str, language: str = "en",
               model: str = "X4U") -> str:
    site = Site("192.0.2.10", 5060, "udp", "ntp.example", zone, language)
    renderer = Renderer()
    ctx = renderer.context(BY_NAME[vendor], site, NOW, mac=None, model=model,
                           account=Account.off(), prov={"base": "http://192.0.2.10",
                                                        "http_base": "http://192.0.2.10"})
    return renderer.render(template, ctx).decode()


@pytest.mark.parametrize(("zone", "yealink", "grandstream", "snom", "fanvil", "cisco", "polycom"), [
    ("Asia/Ho_Chi_Minh", "Thailand(Bangkok)", "TZX-7", "THA+7", "28", "GMT+07:00", "25200"),
    ("Asia/Bangkok", "Thailand(Bangkok)", "TZX-7", "THA+7", "28", "GMT+07:00", "25200"),
    ("Asia/Singapore", "Singapore(Singapore)", "SGT-8", "SGP+8", "32", "GMT+08:00", "28800"),
    ("Europe/London", "United Kingdom(London)", "GMT+0BST-1,M3.5.0/01:00:00,M10.5.0/02:00:00",
     "GBR-0", "0", "GMT", "0"),
    ("Europe/Berlin", "Germany(Berlin)", "CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00",
     "GER+1", "4", "GMT+01:00", "3600"),
    ("America/New_York", "United States-Eastern Time", "EST5EDT", "USA-5", "-20", "GMT-05:00",
     "-18000"),
    ("UTC", "GMT", "TZN+0", "", "0", "GMT", "0"),
])
def test_listed_zones_take_each_vendors_own_form(zone: str, yealink: str, grandstream: str,
                                                 snom: str, fanvil: str, cisco: str,
                                                 polycom: str) -> None:
    assert f"local_time.time_zone_name = {yealink}\n" in _site_file("yealink",
                                                                    "yealink/common.cfg", zone)
    assert f"<P64>{grandstream}</P64>" in _site_file("grandstream", "grandstream/common.xml",
                                                      zone)
    snom_file = _site_file("snom", "snom/common.htm", zone, model="710")
    assert (f'<timezone perm="R">{snom}</timezone>' if snom
            else '<utc_offset perm="R">0</utc_offset>') in snom_file
    assert f"<TimeZone>{fanvil}</TimeZone>" in _site_file("fanvil", "fanvil/common.cfg", zone)
    assert f"<Time_Zone>{fanvil}</Time_Zone>" in _site_file("fanvil", "fanvil/common.cfg", zone,
                                                             model="X4")
    assert f"<Time_Zone>{cisco}</Time_Zone>" in _site_file("cisco", "cisco/spa.xml", zone)
    assert f'gmtOffset="{polycom}"' in _site_file("polycom", "polycom/common.cfg", zone)


def test_unlisted_zones_fall_back_to_offset_and_rule() -> None:
    # India: +5:30, no DST.  Sydney: +10, DST from the first Sunday of October.
    yealink = _site_file("yealink", "yealink/common.cfg", "Asia/Kolkata")
    assert "local_time.time_zone = +5:30\n" in yealink and "time_zone_name" not in yealink
    sydney = _site_file("yealink", "yealink/common.cfg", "Australia/Sydney")
    assert "local_time.summer_time = 1\n" in sydney
    assert "local_time.start_time = 10/1/7/2\n" in sydney
    assert "local_time.end_time = 4/1/7/3\n" in sydney
    grandstream = _site_file("grandstream", "grandstream/common.xml", "Australia/Sydney")
    assert "<P64>customize</P64>" in grandstream
    assert "<P246>AEST-10AEDT,M10.1.0,M4.1.0/3</P246>" in grandstream
    cisco = _site_file("cisco", "cisco/spa.xml", "Australia/Sydney")
    assert "<Time_Zone>GMT+10:00</Time_Zone>" in cisco
    assert "start=10/1/7/02:00:00;end=4/1/7/03:00:00;save=1" in cisco
    assert 'gmtOffset="19800"' in _site_file("polycom", "polycom/common.cfg", "Asia/Kolkata")
    assert '<utc_offset perm="R">36000</utc_offset>' in _site_file(
        "snom", "snom/common.htm", "Australia/Sydney", model="710")
    fanvil = _site_file("fanvil", "fanvil/common.cfg", "Asia/Kolkata")
    assert "<TimeZone>22</TimeZone>" in fanvil and "<EnableDST>0</EnableDST>" in fanvil


def test_vietnamese_falls_back_to_english_where_the_vendor_has_none() -> None:
    assert "lang.gui = English\n" in _site_file("yealink", "yealink/common.cfg", "UTC", "vi")
    assert "English_United_Kingdom" in _site_file("polycom", "polycom/common.cfg", "UTC", "vi")
    assert "<P1362>en</P1362>" in _site_file("grandstream", "grandstream/common.xml", "UTC",
                                             "vi")
    assert '<language perm="R">English</language>' in _site_file(
        "snom", "snom/common.htm", "UTC", "vi", model="710")
    assert "<DefaultLanguage>en</DefaultLanguage>" in _site_file(
        "fanvil", "fanvil/common.cfg", "UTC", "vi")
    assert "<Language>0</Language>" in _site_file("fanvil", "fanvil/common.cfg", "UTC", "vi",
                                                  model="X4")
    assert "<Language>16</Language>" in _site_file("fanvil", "fanvil/common.cfg", "UTC", "de",
                                                   model="X4")


def test_grandstream_firmware_is_fetched_by_model_name() -> None:
    found = identify("Grandstream/grp2612fw.bin", None)
    assert found is not None and (found.vendor.name, found.kind, found.model) == (
        "grandstream", "firmware", "grp2612")
    snom = identify("snom710-firmware.xml", None)
    assert snom is not None and (snom.vendor.name, snom.kind) == ("snom", "common")


def test_cisco_credentials_go_in_profile_rule_options() -> None:
    data = _render_state("cisco", "CP-7841-3PCC", "00562baabbcd", "assigned",
                         "Cisco/CP-7841-3PCC/00562baabbcd.cfg", "cisco/device-mpp.xml")
    rule = ET.fromstring(data).findtext("Profile_Rule")
    assert rule == ("[--uid 00562baabbcd --pwd d3v1cepw]"
                    "http://192.0.2.10/Cisco/CP-7841-3PCC/00562baabbcd.cfg")
    assert b"<Admin_Password>Adm1nPw</Admin_Password>" in data and b"Admin_Passwd" not in data


# -- message waiting and the message key (voicemail): the assigned account's keys only --------
# (vendor: lines an assigned phone's file has; sources in the templates' commit message)
MAILBOX_KEYS = {
    "yealink": ["account.1.subscribe_mwi = 1", "account.1.subscribe_mwi_to_vm = 0",
                "voice_mail.number.1 = *97"],
    "polycom": ['msg.mwi.1.subscribe="101"', 'msg.mwi.1.callBackMode="contact"',
                'msg.mwi.1.callBack="*97"'],
    "cisco": ["<Voice_Mail_Number>*97</Voice_Mail_Number>"],
    "grandstream": ["<P33>*97</P33>", "<P99>1</P99>"],
    "snom": ['<user_mailbox idx="1" perm="R">*97</user_mailbox>'],
    "fanvil": ["<MWI_Num>*97</MWI_Num>", "<MWINum>*97</MWINum>"],  # older X line, sysConf
}
MAILBOX_NAMES = ("subscribe_mwi", "voice_mail.", "msg.mwi", "Voice_Mail_Number", "<P33>",
                 "<P99>", "user_mailbox", "MWI_Num", "MWINum", "*97")


def test_mailbox_number_is_the_feature_code_that_opens_the_mailbox() -> None:
    from appliance.calls.voicemail import CODES
    from appliance.provisioning.render import MAILBOX_NUMBER
    assert CODES[MAILBOX_NUMBER] == "listen"


@pytest.mark.parametrize(("vendor", "line", "model", "mac", "name", "template"), [
    (vendor, line, model, mac, name, template) for vendor, line, model, mac, files in LINES
    for name, template in files.items() if mac in name.lower()
    and not name.endswith(("-firmware.xml", ".htm"))])
def test_assigned_phone_subscribes_to_its_mailbox_welcome_phone_not(
        vendor: str, line: str, model: str, mac: str, name: str, template: str) -> None:
    assigned = _render_state(vendor, model, mac, "assigned", name, template).decode()
    wanted = MAILBOX_KEYS[vendor]
    if vendor == "fanvil":  # one key per file format
        wanted = [wanted[0] if "<VOIP_CONFIG_FILE>" in assigned else wanted[1]]
    for key in wanted:
        assert key in assigned, (vendor, key)
    for state in ("welcome", "disabled"):
        off = _render_state(vendor, model, mac, state, name, template).decode()
        assert not [n for n in MAILBOX_NAMES if n in off], (vendor, state)
