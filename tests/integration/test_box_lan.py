"""The box on a LAN (issue 13): the shipped ``systemd/appliance.toml``, only its data folder
changed, runs in a "box" namespace, listening on 0.0.0.0 there and nowhere else. From a
"phone" namespace whose interface has a Yealink MAC: SIP PnP finds the box, the phone's file
over HTTP and TFTP names the box's own address and SIP port, SIPp registers to exactly that
server with the file's credentials, mDNS and the admin page show the same address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.conftest import RunningDaemon, appliance, start_daemon
from tests.integration.netns import (
    APPLIANCE_IP,
    APPLIANCE_IP6,
    PHONE_IP,
    PHONE_IP6,
    PHONE_MAC,
    NetnsPair,
    netns_pair,
)
from tests.integration.sip_helpers import SIPP_DATA, bindings_of, need, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "systemd" / "appliance.toml"
HERE = Path(__file__).resolve().parent
CAPTURE = ROOT / "tests" / "data" / "discovery" / "subscribe_yealink.txt"
MAC = PHONE_MAC.replace(":", "")
UA = f"Yealink SIP-T46U 108.86.0.90 {PHONE_MAC}"
PASSWORD = "a long admin password"


def shipped_config(folder: Path, **changes: str) -> Path:
    """systemd/appliance.toml with its data folder in ``folder`` (and each ``changes``
    line, old text to new, replaced where it stands, for the IPv6 variant)."""
    text = SHIPPED.read_text(encoding="utf-8")
    for old, new in {'data = "/var/lib/appliance"': f'data = "{folder / "data"}"',
                     **changes}.items():
        assert text.count(old) == 1, f"{old!r} not once in {SHIPPED}"
        text = text.replace(old, new)
    path = folder / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Box:
    """The daemon in the box namespace, the phone namespace, and the store's config."""

    pair: NetnsPair
    daemon: RunningDaemon
    config: Path
    folder: Path

    def phone(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.pair.run(self.pair.phone, *argv, timeout=timeout)


def _prepare(config: Path) -> None:
    """The store: an admin for the web page, employee An on extension 101, and the phone
    (by its MAC) assigned to 101, all through the CLI against the same store."""
    appliance(config, "init")
    subprocess.run([sys.executable, "-m", "appliance", "admin", "add", "boss",
                    "--password-stdin", "--config", str(config)], input=PASSWORD + "\n",
                   text=True, check=True, capture_output=True, timeout=60)
    employee = appliance(config, "employee", "add", "An Nguyen").stdout.strip().split()[-1]
    appliance(config, "ext", "add", "101")
    appliance(config, "ext", "assign", "101", employee)
    appliance(config, "phone", "assign", MAC, "101")


def _start(tmp_path: Path, ipv6: bool = False, **changes: str) -> Iterator[Box]:
    need("sipp")
    for program in ("tftp", "curl", "ss"):
        need(program)
    with netns_pair(PHONE_MAC, ipv6=ipv6) as pair:
        config = shipped_config(tmp_path, **changes)
        _prepare(config)
        daemon = start_daemon(config, env={**os.environ, "NOTIFY_SOCKET": ""},
                              wrap=pair.cmd(pair.appliance))
        try:
            yield Box(pair, daemon, config, tmp_path)
        finally:
            daemon.stop()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    """The shipped config in the box namespace, as shipped (IPv4)."""
    yield from _start(tmp_path)


@pytest.fixture
def box6(tmp_path: Path) -> Iterator[Box]:
    """The shipped config with SIP and TFTP on ``[::]`` (dual-stack), on IPv4 and IPv6."""
    yield from _start(tmp_path, ipv6=True, **{
        'listen = "0.0.0.0:5060"': 'listen = "[::]:5060"',
        'tftp_listen = "0.0.0.0:69"': 'tftp_listen = "[::]:69"'})


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def pnp(box: Box, port: int = 5062) -> dict[str, object]:
    """The phone's PnP SUBSCRIBE and everything that came back."""
    result = box.phone(sys.executable, str(HERE / "lan_phone.py"), "pnp", str(CAPTURE),
                       PHONE_IP, str(port), MAC, timeout=30)
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def keys(cfg: str) -> dict[str, str]:
    """A Yealink cfg file's ``key = value`` lines."""
    return {k.strip(): v.strip() for k, sep, v in
            (line.partition("=") for line in cfg.splitlines()) if sep and not k.startswith("#")}


def http_fetch(box: Box, base: str, name: str) -> dict[str, str]:
    """The phone fetches ``base/name`` with curl as a Yealink would (digest when asked)."""
    out = box.folder / f"http-{name}"
    argv = ["curl", "-sS", "--noproxy", "*", "--max-time", "20", "-A", UA, "-o", str(out),
            "-w", "%{http_code}", f"{base.rstrip('/')}/{name}"]
    result = box.phone(*argv, timeout=40)
    assert result.returncode == 0, result.stderr
    if result.stdout == "401":  # an enrolled phone proves itself with its own credentials
        got = keys((box.folder / f"tftp-{name}").read_text(encoding="utf-8"))
        user = got["static.auto_provision.server.username"]
        secret = got["static.auto_provision.server.password"]
        result = box.phone(*argv[:-1], "--digest", "-u", f"{user}:{secret}", argv[-1],
                           timeout=40)
    assert result.stdout == "200", (result.stdout, result.stderr, box.daemon.log()[-3000:])
    return keys(out.read_text(encoding="utf-8"))


def tftp_fetch(box: Box, host: str, name: str) -> dict[str, str]:
    """The phone fetches ``name`` with the tftp-hpa client (binary mode)."""
    out = box.folder / f"tftp-{name}"
    result = box.phone("tftp", "-m", "binary", host, "-c", "get", name, str(out), timeout=40)
    assert result.returncode == 0 and out.exists() and out.stat().st_size > 0, (
        result.stdout, result.stderr)
    return keys(out.read_text(encoding="utf-8"))


def sipp_register(box: Box, server: str, port: int, local: str, got: dict[str, str]
                  ) -> subprocess.CompletedProcess[str]:
    """SIPp in the phone namespace registers to ``server:port`` with the file's account."""
    target = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
    return box.phone(
        need("sipp"), target, "-sf", str(SIPP_DATA / "register.xml"), "-i", local,
        "-p", "5070", "-m", "1", "-s", got["account.1.user_name"],
        "-au", got["account.1.auth_name"], "-ap", got["account.1.password"],
        "-key", "expires", "300", "-timeout", "15s", "-timeout_error", "-nostdin",
        "-trace_err", "-error_file", str(box.folder / f"sipp-{local}.log"),
        "-max_recv_loops", "1000", timeout=60)


def baresip_register(box: Box, got: dict[str, str], local: str) -> None:
    """baresip in the phone namespace registers (once) with the file's server and account;
    stopped as soon as the registrar holds its binding (bounded)."""
    home = box.folder / "baresip"
    home.mkdir()
    (home / "config").write_text(textwrap.dedent(f"""
        poll_method epoll
        sip_listen [{local}]:5072
        module_path /usr/lib/baresip/modules
        module_app account.so
    """), encoding="utf-8")
    server, port = got["account.1.sip_server.1.address"], got["account.1.sip_server.1.port"]
    (home / "accounts").write_text(
        f"<sip:{got['account.1.user_name']}@{server}:{port};transport=udp>;"
        f"auth_user={got['account.1.auth_name']};auth_pass={got['account.1.password']};"
        "regint=600\n", encoding="utf-8")
    with (home / "out.log").open("w") as log:
        process = subprocess.Popen(box.pair.cmd(box.pair.phone, need("baresip"), "-f",
                                                str(home)), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: any(local in str(b["via"]) for b in
                                      bindings_of(box.config, "101")), 15), (
            (home / "out.log").read_text(errors="replace"), bindings_of(box.config))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


WEB_SIDE = textwrap.dedent("""
    import json, re, sys
    from tests.integration.test_web_settings import Browser
    browser = Browser(sys.argv[1])
    status, _ = browser.post("/login", {"username": "boss", "password": sys.argv[2]}, "/login")
    assert status == 200, status
    def codes(html, id_):
        block = re.search(r'id="' + id_ + r'">(.*?)</dd>', html, re.S)
        return re.findall(r"<code[^>]*>([^<]*)</code>", block.group(1)) if block else None
    dashboard = browser.get("/")
    status, login = browser.post("/extensions/101/login-info", {}, "/extensions/101")
    print(json.dumps({"option66": codes(dashboard, "option66"),
                      "tftp": codes(dashboard, "tftp-url"),
                      "sip": codes(dashboard, "sip-servers"), "login_status": status,
                      "softphone": re.findall(r'id="sip-server">([^<]*)<', login)}))
""")


# Run in the box namespace: an offer to the box's rtpengine; print the SDP it gives back.
OFFER_SIDE = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, %r)
    from appliance.media.ng import NgClient
    async def main():
        client = NgClient("127.0.0.1", 22223)
        sdp = ("v=0\\r\\no=- 1 1 IN IP4 10.0.0.9\\r\\ns=-\\r\\nc=IN IP4 10.0.0.9\\r\\n"
               "t=0 0\\r\\nm=audio 4000 RTP/AVP 0\\r\\n")
        reply = await client.offer("lan-check", "a", sdp)
        await client.delete("lan-check")
        client.close()
        print(reply.sdp)
    asyncio.run(main())
""") % str(ROOT)


def test_shipped_config_on_a_lan(box: Box) -> None:
    ports = box.daemon.ports
    assert ports["sip_udp"] == "0.0.0.0:5060" and ports["pnp"] == "224.0.1.75:5060"
    assert (ports["tftp"], ports["http"], ports["web"]) == ("0.0.0.0:69", "0.0.0.0:80",
                                                            "0.0.0.0:8000")
    # SIP PnP: one 200 and one NOTIFY, both from the PnP responder (the SIP socket on the
    # same port never saw the group's datagram, or it would have answered as well)
    received = pnp(box)["received"]
    assert isinstance(received, list)
    assert [r["first"].split(" ")[0] for r in received] == ["SIP/2.0", "NOTIFY"], received
    assert received[0]["first"] == "SIP/2.0 200 OK"
    url = urlsplit(received[1]["body"])
    assert url.scheme == "http" and url.hostname == APPLIANCE_IP
    assert (url.port or 80) == port_of(ports["http"])

    # the phone's file over HTTP (at the URL PnP gave) and over TFTP name the box
    sip_port = port_of(ports["sip_udp"])
    over_http = http_fetch(box, received[1]["body"], f"{MAC}.cfg")
    over_tftp = tftp_fetch(box, APPLIANCE_IP, f"{MAC}.cfg")
    for got in (over_http, over_tftp):
        assert got["account.1.enable"] == "1"
        assert got["account.1.sip_server.1.address"] == APPLIANCE_IP
        assert int(got["account.1.sip_server.1.port"]) == sip_port
        assert urlsplit(got["static.auto_provision.server.url"]).hostname == APPLIANCE_IP
        assert got["account.1.user_name"] == "101" and got["account.1.password"]

    # a real SIP client registers to exactly the server the file names
    registered = sipp_register(box, over_tftp["account.1.sip_server.1.address"],
                               int(over_tftp["account.1.sip_server.1.port"]), PHONE_IP,
                               over_tftp)
    assert registered.returncode == 0, (registered.stdout[-2000:], registered.stderr[-6000:])
    assert wait_until(lambda: any(PHONE_IP in str(b["via"]) for b in
                                  bindings_of(box.config, "101")), 5), bindings_of(box.config)

    # mDNS: the admin page and the registrar, on the box's address and the bound ports
    found = box.phone(sys.executable, str(HERE / "lan_phone.py"), "mdns", "10",
                      "_http._tcp.local.", "_sip._udp.local.", timeout=40)
    assert found.returncode == 0, found.stderr
    services = json.loads(found.stdout)
    web = services["Office phone appliance._http._tcp.local."]
    assert web["addresses"] == [APPLIANCE_IP] and web["port"] == port_of(ports["web"])
    assert web["properties"]["provisioning"] == f"http://{APPLIANCE_IP}/"
    sip = services["Office phone appliance._sip._udp.local."]
    assert sip["addresses"] == [APPLIANCE_IP] and sip["port"] == sip_port

    # the admin page: DHCP option 66, TFTP and the SIP server name the box's LAN address
    page = box.phone(sys.executable, "-c", WEB_SIDE, f"http://{APPLIANCE_IP}:8000", PASSWORD,
                     timeout=60)
    assert page.returncode == 0, page.stderr
    shown = json.loads(page.stdout)
    assert shown["option66"] == [f"http://{APPLIANCE_IP}/"]
    assert shown["tftp"] == [f"tftp://{APPLIANCE_IP}"]
    assert shown["sip"] == [APPLIANCE_IP] and shown["softphone"] == [APPLIANCE_IP]

    # the media plane: rtpengine runs in the box namespace, its control port on loopback,
    # and the SDP it gives names the box's LAN address ("auto")
    assert ports["media_ng"] == "127.0.0.1:22223"
    rtpengine = int((box.folder / "data" / "media" / "rtpengine.pid").read_text().strip())
    controls = box.pair.listening(box.pair.appliance, rtpengine)
    local = [line.split()[4] for line in controls]  # ss: netid state rq sq local peer
    assert "127.0.0.1:22223" in local and not any(
        a.startswith(("0.0.0.0:", "*:", "[::]:")) for a in local), controls
    assert box.pair.listening(None, rtpengine) == []
    offered = box.pair.run(box.pair.appliance, sys.executable, "-c", OFFER_SIDE, timeout=30)
    assert offered.returncode == 0, offered.stderr
    assert f"c=IN IP4 {APPLIANCE_IP}" in offered.stdout, offered.stdout

    # nothing of the daemon listens outside the box namespace
    pid = box.daemon.process.pid
    inside = "\n".join(box.pair.listening(box.pair.appliance, pid))
    for needle in ("0.0.0.0:5060", "224.0.1.75:5060", "0.0.0.0:69", "0.0.0.0:80",
                   "0.0.0.0:8000"):
        assert needle in inside, inside
    assert box.pair.listening(None, pid) == []
    assert box.pair.listening(box.pair.phone, pid) == []
    assert box.daemon.process.poll() is None


def test_sip_on_ipv6_wildcard_beside_pnp(box6: Box) -> None:
    ports = box6.daemon.ports
    assert ports["sip_udp"] == "[::]:5060" and ports["pnp"] == "224.0.1.75:5060"
    assert ports["tftp"] == "[::]:69" and ports["http"] == "0.0.0.0:80"
    received = pnp(box6)["received"]
    assert isinstance(received, list)
    assert [r["first"] for r in received][:1] == ["SIP/2.0 200 OK"] and len(received) == 2
    assert received[1]["body"] == f"http://{APPLIANCE_IP}/"
    # the dual-stack TFTP and SIP sockets take both families: over IPv4 the file names the
    # IPv4 address, over IPv6 the IPv6 one; HTTP (IPv4 only here) keeps the IPv4 address
    over_v4 = tftp_fetch(box6, APPLIANCE_IP, f"{MAC}.cfg")
    assert over_v4["account.1.sip_server.1.address"] == APPLIANCE_IP
    out = box6.folder / "tftp6.cfg"
    fetched = box6.phone("curl", "-sS", "--max-time", "20", "-o", str(out),
                         f"tftp://[{APPLIANCE_IP6}]/{MAC}.cfg", timeout=40)
    assert fetched.returncode == 0, fetched.stderr
    over_v6 = keys(out.read_text(encoding="utf-8"))
    assert over_v6["account.1.sip_server.1.address"] == f"[{APPLIANCE_IP6}]", over_v6
    assert over_v6["account.1.enable"] == "1" and over_v6["account.1.password"], over_v6
    assert int(over_v6["account.1.sip_server.1.port"]) == port_of(ports["sip_udp"])
    assert urlsplit(over_v6["static.auto_provision.server.url"]).hostname in (
        APPLIANCE_IP, APPLIANCE_IP6)
    # SIPp 3.6.1 puts an IPv6 Request-URI into its digest unbracketed (uri="sip:2001:..."),
    # which a registrar rightly refuses: over IPv6, baresip registers
    registered = sipp_register(box6, over_v4["account.1.sip_server.1.address"],
                               int(over_v4["account.1.sip_server.1.port"]), PHONE_IP, over_v4)
    assert registered.returncode == 0, (registered.stdout[-2000:], registered.stderr[-6000:])
    baresip_register(box6, over_v6, PHONE_IP6)
    assert any(PHONE_IP in str(b["via"]) for b in bindings_of(box6.config, "101"))
    assert box6.pair.listening(None, box6.daemon.process.pid) == []


SOCKETS_SIDE = textwrap.dedent("""
    import json, socket, sys
    from appliance.config import Listen
    from appliance.discovery.pnp import group_socket
    from appliance.sip.transport import _udp_socket
    sip = _udp_socket(Listen(sys.argv[1], 5060))
    group = group_socket([sys.argv[2]])
    taken = ""
    try:
        _udp_socket(Listen(sys.argv[1], 5060))
    except OSError as exc:
        taken = exc.strerror
    print("ready", flush=True)
    got = {"sip": [], "pnp": [], "second_bind": taken}
    for name, sock in (("sip", sip), ("pnp", group)):
        sock.settimeout(3 if name == "sip" else 0.5)
        while True:
            try:
                got[name].append(sock.recv(100).decode())
            except (TimeoutError, BlockingIOError):
                break
    print(json.dumps(got))
""")


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_sip_socket_never_gets_the_pnp_group(host: str) -> None:
    """The SIP core's UDP socket and the PnP group socket on one port, in a namespace: the
    group's datagram reaches the group socket only, unicast the SIP socket only, and a
    second SIP bind of the port is still refused."""
    with netns_pair() as pair:
        side = subprocess.Popen(pair.cmd(pair.appliance, sys.executable, "-c", SOCKETS_SIDE,
                                         host, APPLIANCE_IP),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT)
        try:
            assert side.stdout is not None and side.stdout.readline().strip() == "ready"
            sent = pair.run(pair.phone, sys.executable, "-c", (
                "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                f"s.bind(('{PHONE_IP}', 0));"
                "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,"
                f" socket.inet_aton('{PHONE_IP}'));"
                "s.sendto(b'group', ('224.0.1.75', 5060));"
                f"s.sendto(b'unicast', ('{APPLIANCE_IP}', 5060))"))
            assert sent.returncode == 0, sent.stderr
            out, err = side.communicate(timeout=30)
        finally:
            side.kill()
    got = json.loads(out)
    assert got == {"sip": ["unicast"], "pnp": ["group"],
                   "second_bind": "Address already in use"}, err
