"""Each vendor family's documented boot sequence (DESIGN §3) replayed in order by a phone in a
network namespace, with real clients; then SIPp registers with exactly what the phone's file
says (issue 13).

One daemon in the "appliance" namespace (everything on 0.0.0.0 there, OS-chosen ports) serves
seven phones one after another; the "phone" namespace takes each phone's MAC (its vendor's OUI)
and its own address. Each phone is assigned with the CLI before it boots. Phase one is the boot
from DHCP option 66 (``tftp://BOX:PORT``); phase two the phone's next resync, from wherever and
with whatever credentials its files told it (Yealink's server URL, Polycom's ``device.prov``,
Cisco's ``Profile_Rule``, Grandstream's P212/P237, Snom's ``setting_server``, Fanvil's
auto-update server). Names the firmware tries that the box does not serve must be a clean
not-found that costs the phone nothing: the guard here bans a source after two counted misses,
and every phone still gets its file at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from appliance.provisioning.http import NOT_FOUND_BODY
from tests.integration.conftest import (
    RunningDaemon,
    appliance,
    appliance_json,
    start_daemon,
    write_config,
)
from tests.integration.netns import APPLIANCE_IP, PREFIX, NetnsPair, netns_pair
from tests.integration.provisioning_helpers import (
    USER_AGENTS,
    Fetch,
    cisco_rule,
    fetch_url,
    parse_cfg,
    port_of,
    setup_extension,
    sip_account,
)
from tests.integration.sip_helpers import SIPP_DATA, need

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Spec:
    """One phone: its family, captured User-Agent, MAC, address, extension, owner, the TFTP
    client standing in for its firmware, and how DHCP option 66 points it at the box."""

    vendor: str
    ua: str
    mac: str
    ip: str
    number: str
    name: str
    tftp: str
    option66: str = "tftp"


# The MACs are the ones in the captured User-Agents (tests/data/provisioning/user_agents.toml).
SPECS = {
    "yealink": Spec("yealink", "yealink", "001565aabb01", "192.0.2.11", "201",
                    "Nguyễn Văn An", "tftp"),
    "polycom": Spec("polycom", "polycom", "0004f2aabb02", "192.0.2.12", "202",
                    "Trần Thị Bình", "curl"),
    "cisco_spa": Spec("cisco", "cisco_spa", "00562baabb13", "192.0.2.13", "203",
                      "Lê Văn Cường", "tftp"),
    "cisco_mpp": Spec("cisco", "cisco_mpp", "00562baabb03", "192.0.2.14", "204",
                      "Đặng Quốc Huy", "curl"),
    "grandstream": Spec("grandstream", "grandstream", "000b82aabb04", "192.0.2.15", "205",
                        "Phạm Thu Dung", "tftp"),
    "snom": Spec("snom", "snom", "000413aabb05", "192.0.2.16", "206", "Hoàng Minh Em", "curl"),
    # Over HTTP: over TFTP the box cannot tell an X4 from a newer model yet (see the xfail).
    "fanvil": Spec("fanvil", "fanvil", "0c383eaabb06", "192.0.2.17", "207",
                   "Võ Thị Phương", "tftp", "http"),
}
SIPP_PORT = 5062


def colons(mac: str) -> str:
    """``001565aabb01`` as ``00:15:65:aa:bb:01``."""
    return ":".join(mac[i:i + 2] for i in range(0, 12, 2))


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def become(pair: NetnsPair, mac: str, address: str) -> None:
    """The phone namespace becomes another phone: its interface takes ``mac`` and
    ``address``, and the box forgets its neighbors, so the kernel learns the new pair."""
    ip("-n", pair.phone, "-4", "addr", "flush", "dev", pair.phone_dev)
    ip("-n", pair.phone, "link", "set", pair.phone_dev, "address", colons(mac))
    ip("-n", pair.phone, "addr", "add", f"{address}/{PREFIX}", "dev", pair.phone_dev)
    ip("-n", pair.appliance, "neigh", "flush", "dev", pair.appliance_dev)


def redacted(url: str) -> str:
    """``url`` without the password in its user info (for assertion messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}"
                                     + (f":{parts.port}" if parts.port else "")))


@dataclass
class Phone:
    """A booting phone: what it fetched, and the provisioning credentials its files gave it."""

    spec: Spec
    netns: str
    credentials: tuple[str, str] | None = None
    trail: list[str] = field(default_factory=list)
    device: tuple[str, bytes] = ("", b"")  # the first per-MAC file it got, and where from
    http_device: str = ""  # the last per-MAC file it got over HTTP

    @property
    def mac(self) -> str:
        return self.spec.mac

    def request(self, url: str, put: bytes | None = None) -> Fetch:
        """One request for ``url``, HTTP with the phone's User-Agent and credentials."""
        http = url.startswith("http")
        in_url = urlsplit(url).username is not None
        got = fetch_url(url, user_agent=USER_AGENTS[self.spec.ua]["ua"] if http else "",
                        credentials=self.credentials if http and not in_url else None,
                        netns=self.netns, tftp_client=self.spec.tftp, put=put)
        self.trail.append(f"{'PUT' if put is not None else 'GET'} {redacted(url)} -> "
                          f"{got.status}")
        return got

    def why(self, got: Fetch) -> str:
        return "\n".join([*self.trail, got.detail[-500:]])

    def get(self, base: str, name: str = "") -> bytes:
        """A file the phone needs: it must come, with content."""
        url = f"{base.rstrip('/')}/{name}" if name else base
        got = self.request(url)
        assert got.status == 200 and got.data, self.why(got)
        # its own config files (the company phonebook is named by MAC too, but is no config)
        if self.mac in url.lower() and not re.search(r"/phonebook/|-directory\.xml$", url):
            self.device = self.device if self.device[0] else (url, got.data)
            self.http_device = url if url.startswith("http") else self.http_device
        return got.data

    def miss(self, base: str, name: str) -> None:
        """A name the firmware tries that the box does not serve: a clean not-found."""
        got = self.request(f"{base.rstrip('/')}/{name}")
        assert got.status == 404, self.why(got)
        if base.startswith("http"):
            assert got.data == NOT_FOUND_BODY, self.why(got)


# -- the boot sequences, as each vendor documents them -------------------------------------------

def yealink(phone: Phone, option66: str) -> tuple[bytes, bytes]:
    """``<mac>.boot``, ``y000000000000.boot`` (no boot file), the model's common file, then
    ``<mac>.cfg``, ``<mac>-local.cfg`` and ``<mac>-contact.xml``; the next time from the
    server URL of ``<mac>.cfg`` with its user name and password."""
    def boot(base: str) -> bytes:
        mac = phone.mac
        phone.miss(base, f"{mac}.boot")
        phone.miss(base, "y000000000000.boot")
        parse_cfg(phone.get(base, "y000000000108.cfg"))  # the SIP-T46U's common file
        device = phone.get(base, f"{mac}.cfg")
        parse_cfg(phone.get(base, f"{mac}-local.cfg"))
        phone.miss(base, f"{mac}-contact.xml")
        return device

    first = boot(option66)
    keys = parse_cfg(first)
    phone.credentials = (keys["static.auto_provision.server.username"],
                         keys["static.auto_provision.server.password"])
    return first, boot(keys["static.auto_provision.server.url"])


def polycom(phone: Phone, option66: str) -> tuple[bytes, bytes]:
    """``<mac>.cfg`` (none: the default master), ``000000000000.cfg``, its application and
    each of its CONFIG_FILES, the directory files, its override files; over HTTP the phone
    then uploads its phone-side settings. The next time from ``device.prov.serverType`` and
    ``serverName`` with ``device.prov.user``/``password``."""
    stored: list[bytes] = []

    def boot(base: str) -> bytes:
        mac = phone.mac
        phone.miss(base, f"{mac}.cfg")
        master = ET.fromstring(phone.get(base, "000000000000.cfg"))
        assert master.tag == "APPLICATION"
        phone.miss(base, master.attrib["APP_FILE_PATH"])  # no image stored: keeps its own
        listed = [name.strip().replace("[PHONE_MAC_ADDRESS]", mac)
                  for name in master.attrib["CONFIG_FILES"].split(",") if name.strip()]
        files = [phone.get(base, name) for name in listed]
        # the company phonebook as its local directory (empty until the phone is assigned)
        assert ET.fromstring(phone.get(base, f"{mac}-directory.xml")).tag == "directory"
        phone.miss(base, "000000000000-directory.xml")
        # its override files: what it uploaded the last time comes back, nothing else
        if stored:
            assert phone.get(base, f"{mac}-phone.cfg") == stored[-1]
        else:
            phone.miss(base, f"{mac}-phone.cfg")
        phone.miss(base, f"{mac}-web.cfg")
        if base.startswith("http"):
            stored.append(b'<?xml version="1.0"?><PHONE_CONFIG><ALL up.backlight.'
                          b'idleIntensity="%d"/></PHONE_CONFIG>\n' % len(stored))
            uploaded = phone.request(f"{base}/{mac}-phone.cfg", put=stored[-1])
            assert uploaded.status in (200, 201, 204), phone.why(uploaded)
        accounts = [data for data in files if ET.fromstring(data).find("reg") is not None]
        assert len(accounts) == 1, listed
        return accounts[0]

    first = boot(option66)
    device = ET.fromstring(first).find("device")
    assert device is not None
    d = device.attrib
    scheme = {"0": "ftp", "1": "tftp", "2": "http", "3": "https"}[d["device.prov.serverType"]]
    phone.credentials = (d["device.prov.user"], d["device.prov.password"])
    return first, boot(f"{scheme}://{d['device.prov.serverName']}")


def _flat(data: bytes) -> dict[str, str]:
    root = ET.fromstring(data)
    assert root.tag == "flat-profile"
    return {child.tag: child.text or "" for child in root}


def _cisco(phone: Phone, common: bytes, product: str) -> tuple[bytes, bytes]:
    """The common profile's ``Profile_Rule`` target, whose own rule (with the phone's
    ``--uid``/``--pwd``) is where the phone resyncs from next."""
    macros = {"MA": phone.mac, "MAU": phone.mac.upper(), "PN": product}
    rule = cisco_rule(_flat(common)["Profile_Rule"], macros)
    phone.credentials = (rule[0], rule[1]) if rule[0] else None
    first = phone.get(rule[2])
    uid, pwd, url = cisco_rule(_flat(first)["Profile_Rule"], macros)
    assert uid and pwd and url.startswith("http://"), "the resync rule gives credentials"
    phone.credentials = (uid, pwd)
    second = phone.get(url)
    assert cisco_rule(_flat(second)["Profile_Rule"], macros) == (uid, pwd, url)
    return first, second


def cisco_spa(phone: Phone, option66: str) -> tuple[bytes, bytes]:
    """``spa504G.cfg`` (the model's case kept), then its Profile_Rule targets."""
    return _cisco(phone, phone.get(option66, "spa504G.cfg"), "SPA504G")


def cisco_mpp(phone: Phone, option66: str) -> tuple[bytes, bytes]:
    """``CP-7841-3PCC.xml`` (some firmware asks ``7841-3PCC.xml``: the same profile), then
    its Profile_Rule targets."""
    common = phone.get(option66, "CP-7841-3PCC.xml")
    assert phone.get(option66, "7841-3PCC.xml") == common
    return _cisco(phone, common, "CP-7841-3PCC")


def grandstream(phone: Phone, option66: str) -> tuple[bytes, bytes]:
    """``cfg<mac>``, ``cfg<mac>.xml``, ``cfg<model>.xml``, ``cfg.xml``; the next time over
    P212 (0 TFTP, 1 HTTP, 2 HTTPS) from P237 with P1360/P1361."""
    def boot(base: str) -> bytes:
        phone.miss(base, f"cfg{phone.mac}")
        device = phone.get(base, f"cfg{phone.mac}.xml")
        phone.get(base, "cfggxp2170.xml")
        phone.get(base, "cfg.xml")
        return device

    first = boot(option66)
    config = ET.fromstring(first).find("config")
    assert config is not None

    def p(tag: str) -> str:
        return config.findtext(tag) or ""

    phone.credentials = (p("P1360"), p("P1361"))
    return first, boot(f"{('tftp', 'http', 'https')[int(p('P212'))]}://{p('P237')}")


def snom(phone: Phone, option66: str) -> tuple[bytes, bytes]:
    """``snom710.htm``, ``snom710-<MAC>.htm`` and each file it lists; the next time from
    ``setting_server`` (credentials in its URL), again with each file listed there."""
    def listed(listing: bytes) -> bytes:
        root = ET.fromstring(listing)
        assert root.tag == "setting-files"
        files = [phone.get(node.attrib["url"]) for node in root.iter("file")]
        accounts = [data for data in files
                    if ET.fromstring(data).find("phone-settings/user_active") is not None]
        assert len(accounts) == 1, files
        return accounts[0]

    phone.get(option66, "snom710.htm")
    first = listed(phone.get(option66, f"snom710-{phone.mac.upper()}.htm"))
    server = ET.fromstring(first).findtext("phone-settings/setting_server") or ""
    assert urlsplit(server).password, "setting_server carries the phone's credentials"
    return first, listed(phone.get(server))


def fanvil(phone: Phone, option66: str) -> tuple[bytes, bytes]:
    """The model's common file (``f0X4hw1.100.cfg``), then ``<mac>.cfg``; the next time
    from the auto-update server and file name of ``<mac>.cfg`` with its download user."""
    def boot(base: str, name: str) -> bytes:
        phone.get(base, "f0X4hw1.100.cfg")
        return phone.get(base, name)

    first = boot(option66, f"{phone.mac}.cfg")
    root = ET.fromstring(first)
    assert root.tag == "VOIP_CONFIG_FILE"  # the X4 is of the older X line

    def a(tag: str) -> str:
        return root.findtext(f"AUTOUPDATE_CONFIG_MODULE/{tag}") or ""

    server = a("Download_Server_IP")
    if "://" not in server:  # a bare address: Download_Protocol says how (2 TFTP, 4 HTTP)
        scheme = {"2": "tftp", "4": "http", "5": "https"}[a("Download_Protocol")]
        server = f"{scheme}://{server}"
    phone.credentials = (a("Download_Username"), a("Download_Password"))
    return first, boot(server, a("Config_File_Name").replace("$mac", phone.mac))


BOOTS = {"yealink": yealink, "polycom": polycom, "cisco_spa": cisco_spa, "cisco_mpp": cisco_mpp,
         "grandstream": grandstream, "snom": snom, "fanvil": fanvil}


# -- the office --------------------------------------------------------------------------------

@dataclass
class Office:
    """The daemon in the appliance namespace, the phone namespace, the store's config and
    the test's folder."""

    pair: NetnsPair
    daemon: RunningDaemon
    config: Path
    folder: Path

    def option66(self, scheme: str) -> str:
        """The box as DHCP option 66 names it, for ``tftp`` or ``http``."""
        return f"{scheme}://{APPLIANCE_IP}:{port_of(self.daemon.ports[scheme])}"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    for program in ("sipp", "tftp", "curl"):
        need(program)
    folder = tmp_path_factory.mktemp("vendor-boot")
    # Two counted misses ban a source: a miss of a boot sequence must not count at all.
    config = write_config(folder, "ban_misses = 2\n", web=False, provisioning=True,
                          host="0.0.0.0", sip=True, sip_listen="0.0.0.0:0",
                          sip_extra='tcp_listen = "0.0.0.0:0"\n')
    appliance(config, "init")
    for spec in SPECS.values():
        setup_extension(config, spec.number, spec.name, spec.mac)
    with netns_pair(colons(SPECS["yealink"].mac)) as pair:
        daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""},
                              wrap=pair.cmd(pair.appliance))
        try:
            yield Office(pair, daemon, config, folder)
        finally:
            daemon.stop()


def sipp_register(office: Office, spec: Spec, account: dict[str, str]
                  ) -> subprocess.CompletedProcess[str]:
    """SIPp in the phone namespace REGISTERs (401, then 200) to the file's registrar, over the
    file's transport, with the file's user, auth name and password."""
    target = f"{account['host']}:{account['port'] or 5060}"
    cwd = office.folder / spec.ua
    cwd.mkdir(exist_ok=True)
    return subprocess.run(office.pair.cmd(
        office.pair.phone, need("sipp"), target, "-sf", str(SIPP_DATA / "register.xml"),
        "-t", {"udp": "u1", "tcp": "t1"}[account["transport"]], "-i", spec.ip,
        "-p", str(SIPP_PORT), "-m", "1", "-s", account["user"], "-au", account["auth"],
        "-ap", account["password"], "-key", "expires", "300", "-timeout", "15s",
        "-timeout_error", "-nostdin", "-trace_err", "-max_recv_loops", "1000"),
        capture_output=True, text=True, timeout=40, check=False, cwd=cwd,
        stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("key", list(SPECS))
def test_vendor_boot_then_register(office: Office, key: str) -> None:
    spec = SPECS[key]
    become(office.pair, spec.mac, spec.ip)
    phone = Phone(spec, office.pair.phone)
    first, second = BOOTS[key](phone, office.option66(spec.option66))

    # The file says where to register and with what, the same at boot and at resync: the
    # box's own registrar, the extension's account.
    account = sip_account(spec.vendor, second)
    assert sip_account(spec.vendor, first) == account, phone.trail
    sip = office.daemon.ports[f"sip_{account['transport']}"]
    assert account["enabled"] == "1" and account["host"] == APPLIANCE_IP, account
    assert int(account["port"] or 5060) == port_of(sip), (account, sip)
    assert account["password"] and account["user"], account

    registered = sipp_register(office, spec, account)
    assert registered.returncode == 0, (registered.stdout[-1500:], registered.stderr[-3000:])
    status = appliance_json(office.config, "status")
    assert any(r["extension"] == spec.number and r["via"] == f"{account['transport']}:"
               f"{spec.ip}:{SIPP_PORT}" for r in status["registrations"]), status
    shown = appliance_json(office.config, "ext", "show", spec.number)
    assert (shown["sip_username"], shown["sip_password"]) == (account["user"],
                                                              account["password"])
    assert [c["via"] for c in shown["contacts"]] == [
        f"{account['transport']}:{spec.ip}:{SIPP_PORT}"], shown

    # Nothing it tried on the way counted against it: it still gets its file.
    url, data = phone.device
    assert url and phone.get(url) == data, phone.trail
    # The credentials its files handed it are what the box asks for now: not without them.
    parts = urlsplit(phone.http_device)
    bare = fetch_url(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])),
                     user_agent=USER_AGENTS[spec.ua]["ua"], netns=office.pair.phone)
    assert bare.status == 401 and "Digest" in bare.detail, (phone.http_device, bare)
    secret = phone.credentials[1] if phone.credentials else parts.password  # Snom: in URLs
    log = office.daemon.log()
    assert secret and secret not in log and account["password"] not in log


def test_counted_misses_do_ban(office: Office) -> None:
    """The guard that the sequences above never tripped is live: two fetches of names no
    vendor has ban a source, and then even a common file is not-found for it."""
    become(office.pair, "001565aabbff", "192.0.2.99")
    phone = Phone(Spec("yealink", "yealink", "001565aabbff", "192.0.2.99", "", "", "curl"),
                  office.pair.phone)
    tftp = office.option66("tftp")
    phone.get(tftp, "y000000000108.cfg")
    phone.miss(tftp, "no-such-file.txt")
    phone.miss(tftp, "passwd")
    phone.miss(tftp, "y000000000108.cfg")


def test_fanvil_x4_over_tftp_gets_its_format(office: Office) -> None:
    spec = Spec("fanvil", "fanvil", "0c383eaabb16", "192.0.2.18", "", "", "tftp")
    become(office.pair, spec.mac, spec.ip)
    phone = Phone(spec, office.pair.phone)
    tftp = office.option66("tftp")
    assert ET.fromstring(phone.get(tftp, "f0X4hw1.100.cfg")).tag == "VOIP_CONFIG_FILE"
    assert ET.fromstring(phone.get(tftp, f"{spec.mac}.cfg")).tag == "VOIP_CONFIG_FILE"
