"""Discovery's pure parts: PnP messages, neighbor tables, identification, OUI, config."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load
from appliance.discovery import identify, pnp
from appliance.errors import ConfigError
from appliance.lan import neighbors, oui
from appliance.sip.message import Request, Response, parse

DATA = Path(__file__).resolve().parents[1] / "data" / "discovery"


def capture(name: str, mac: str = "001565F4F9E1", ip: str = "192.0.2.2",
            port: int = 5062) -> bytes:
    text = (DATA / name).read_text().format(MAC=mac, IP=ip, PORT=port)
    return ("\r\n".join(text.splitlines()) + "\r\n\r\n").encode()


def test_yealink_subscribe_is_understood() -> None:
    sub = pnp.parse_subscribe(capture("subscribe_yealink.txt"), ("192.0.2.2", 5062))
    assert sub is not None
    assert (sub.mac, sub.vendor, sub.model, sub.firmware) == (
        "001565f4f9e1", "yealink", "SIP-T46U", "108.86.0.90")
    assert sub.reply_to == ("192.0.2.2", 5062)


def test_grandstream_subscribe_is_understood() -> None:
    sub = pnp.parse_subscribe(capture("subscribe_grandstream.txt", mac="000B82865E6A"),
                              ("192.0.2.2", 5062))
    assert sub is not None and (sub.vendor, sub.model) == ("grandstream", "GXP2170")


@pytest.mark.parametrize("data", [
    b"", b"\x00\xff garbage", b"SUBSCRIBE sip:x SIP/2.0\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2\r\n\r\n",
])
def test_junk_is_ignored(data: bytes) -> None:
    assert pnp.parse_subscribe(data, ("192.0.2.2", 5062)) is None


def test_unrelated_event_no_mac_and_foreign_via_are_ignored() -> None:
    good = capture("subscribe_yealink.txt").decode()
    other_event = good.replace("Event: ua-profile", "Event: presence")
    no_mac = good.replace("MAC%3A001565F4F9E1@224", "phone@224", 1)
    assert pnp.parse_subscribe(other_event.encode(), ("192.0.2.2", 5062)) is None
    assert pnp.parse_subscribe(no_mac.encode(), ("192.0.2.2", 5062)) is None
    # A Via naming another host would make the responder a reflector.
    assert pnp.parse_subscribe(good.encode(), ("192.0.2.99", 5062)) is None


def test_mac_equals_form_and_oui_fallback_vendor() -> None:
    text = capture("subscribe_yealink.txt").decode()
    text = text.replace("MAC%3A001565F4F9E1@224", "MAC=001565F4F9E1@224", 1)
    text = text.replace('vendor="Yealink";', 'vendor="OEM";')
    sub = pnp.parse_subscribe(text.encode(), ("192.0.2.2", 5062))
    assert sub is not None and sub.mac == "001565f4f9e1" and sub.vendor == "yealink"


def test_replies_follow_the_pnp_exchange() -> None:
    sub = pnp.parse_subscribe(capture("subscribe_yealink.txt"), ("192.0.2.2", 5062))
    assert sub is not None
    ok, notify = pnp.replies(sub, "http://192.0.2.1:8080/", ("192.0.2.1", 40000))
    ok_back = parse(ok.to_bytes())
    assert isinstance(ok_back, Response) and ok_back.status == 200
    assert ok_back.headers.get("expires") == "0" and ok_back.to.tag
    assert ok_back.call_id == sub.request.call_id and ok_back.via[0].branch == "z9hG4bK1803316337"
    back = parse(notify.to_bytes())
    assert isinstance(back, Request) and back.method == "NOTIFY"
    assert str(back.uri) == "sip:192.0.2.2:5062"
    assert back.call_id == sub.request.call_id and back.cseq.seq == 2
    assert back.headers.get("event") == "ua-profile"
    assert back.headers.get("subscription-state") == "terminated;reason=timeout"
    assert back.headers.get("content-type") == "application/url"
    assert back.body == b"http://192.0.2.1:8080/"
    assert back.to.tag == sub.request.from_.tag and back.from_.tag == ok_back.to.tag


def test_provisioning_url_per_vendor() -> None:
    sub = pnp.parse_subscribe(capture("subscribe_yealink.txt"), ("192.0.2.2", 5062))
    assert sub is not None
    assert pnp.provisioning_url("http://h:80", sub) == "http://h:80/"
    snom = sub.__class__(sub.request, "000413aabbcc", "snom", "snomD785", "10.1", sub.reply_to)
    assert pnp.provisioning_url("http://h/", snom) == "http://h/snomD785.htm"


PROC_ARP = """IP address       HW type     Flags       HW address            Mask     Device
192.0.2.2        0x1         0x2         00:15:65:12:34:56     *        eth0
192.0.2.3        0x1         0x0         00:00:00:00:00:00     *        eth0
192.0.2.9        0x1         0x2         not-a-mac             *        eth0
"""

IP_JSON = """[{"dst":"192.0.2.2","dev":"eth0","lladdr":"00:15:65:12:34:56","state":["REACHABLE"]},
{"dst":"192.0.2.3","dev":"eth0","state":["FAILED"]},
{"dst":"fe80::1","dev":"eth0","lladdr":"00:0b:82:86:5e:6a","state":["STALE"]},
{"dst":"192.0.2.4","dev":"eth0","lladdr":"00:0b:82:86:5e:6b","state":["INCOMPLETE"]}]"""


def test_neighbor_tables_parse_only_complete_entries() -> None:
    assert neighbors.parse_proc_arp(PROC_ARP) == [
        neighbors.Neighbor("192.0.2.2", "001565123456", "eth0")]
    table = neighbors.parse_ip_json(IP_JSON)
    assert [(n.ip, n.mac) for n in table] == [("192.0.2.2", "001565123456"),
                                              ("fe80::1", "000b82865e6a")]
    assert neighbors.mac_of("192.0.2.2", table) == "001565123456"
    assert neighbors.mac_of("192.0.2.4", table) is None
    assert neighbors.parse_ip_json("not json") == []


def test_identification_from_snmp_style_text() -> None:
    who = identify.from_description("Yealink SIP-T46U 108.86.0.90", ".1.3.6.1.4.1.37459.2.1")
    assert who == identify.Identity("yealink", "SIP-T46U", "108.86.0.90")
    assert identify.vendor_from_oid("1.3.6.1.4.1.42397.1") == "grandstream"
    assert identify.vendor_from_oid("1.3.6.1.2.1.1") is None
    cisco = identify.from_description("Cisco IP Phone CP-7841-3PCC 11.0.1", "", "", "")
    assert cisco.vendor == "cisco" and cisco.model == "CP-7841-3PCC"
    assert identify.from_description("Linux printer") == identify.Identity(None, None, None)


def test_oui_table_is_phone_vendors_only() -> None:
    assert oui.vendor_of("001565aabbcc") == "yealink"
    assert oui.vendor_of("0004f2aabbcc") == "polycom"
    assert oui.vendor_of("000413aabbcc") == "snom"
    assert oui.vendor_of("525400aabbcc") is None  # a virtual NIC


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_discovery_config_keys(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, """
[discovery]
snmp = true
snmp_communities = ["officephones"]
snmp_interval = 600
mdns_browse = ["_sip._udp"]
[[discovery.snmp_v3]]
user = "phones"
auth_key = "authpass1"
priv_key = "privpass1"
"""), {}).discovery
    assert cfg.snmp_communities == ("officephones",) and cfg.snmp_interval == 600
    assert cfg.mdns_browse == ("_sip._udp.local.",)
    assert cfg.snmp_v3[0].user == "phones" and cfg.snmp_v3[0].auth == "sha"


@pytest.mark.parametrize(("text", "key"), [
    ("[discovery]\nsnmp_interval = 5\n", "discovery.snmp_interval"),
    ('[discovery]\nmdns_browse = ["sip"]\n', "discovery.mdns_browse"),
    ('[[discovery.snmp_v3]]\nuser = "u"\nauth_key = "short"\n', "discovery.snmp_v3[0]"),
    ('[[discovery.snmp_v3]]\nuser = "u"\nauth_key = "longenough"\nauth = "sha512"\n',
     "discovery.snmp_v3[0].auth"),
    ('[[discovery.snmp_v3]]\nuser = "u"\nauth_key = "longenough"\nextra = 1\n',
     "discovery.snmp_v3[0].extra"),
])
def test_bad_discovery_config(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load(write(tmp_path, text), {})
