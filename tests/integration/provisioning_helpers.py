"""Helpers for provisioning tests: a config with provisioning on, real TFTP and HTTP clients."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
import tomllib
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.integration.conftest import appliance, appliance_json, write_config

DATA = Path(__file__).resolve().parents[1] / "data" / "provisioning"
USER_AGENTS: dict[str, dict[str, str]] = tomllib.loads(
    (DATA / "user_agents.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Fetch:
    """One request by a real client: ``status`` is the HTTP code, or for TFTP 200 (got it),
    404 (a clean error 1, File not found) or 0 (anything else); ``detail`` says more (the HTTP
    response headers, the TFTP client's words)."""

    status: int
    data: bytes
    detail: str = ""


def prov_config(folder: Path, extra: str = "", host: str = "127.0.0.1") -> Path:
    """An initialised test config with provisioning on (``host``, OS-chosen ports), the web
    off, SIP's address 127.0.0.1:5060 (what phones are told), plus ``[provisioning]`` keys."""
    path = write_config(folder, extra, web=False, provisioning=True, host=host,
                        sip_listen="127.0.0.1:5060")
    appliance(path, "init")
    return path


def port_of(address: str) -> int:
    """The port of ``host:port``."""
    return int(address.rsplit(":", 1)[1])


def tftp_fetch(port: int, name: str, client: str = "tftp", blksize: int | None = None,
               host: str = "127.0.0.1", netns: str | None = None) -> Fetch:
    """Fetch ``name`` with a real TFTP client (tftp-hpa ``tftp``, ``atftp`` or ``curl``):
    status 200 with the data, 404 for a clean error 1 (File not found), else 0."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        if client == "tftp":
            cmd = ["tftp", host, str(port), "-m", "octet", "-c", "get", name, str(out)]
        elif client == "atftp":
            cmd = ["atftp", "-g", "-r", name, "-l", str(out), host, str(port)]
            if blksize:
                cmd[1:1] = ["--option", f"blksize {blksize}"]
        else:
            cmd = ["curl", "-s", "-f", "-o", str(out), "--max-time", "15"]
            if blksize:
                cmd += ["--tftp-blksize", str(blksize)]
            cmd.append(f"tftp://{host}:{port}/{name}")
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        result = subprocess.run(cmd, capture_output=True, timeout=30, check=False, cwd=tmp)
        data = out.read_bytes() if out.exists() else b""
        said = (result.stdout + result.stderr).decode(errors="replace").strip()
        # tftp-hpa exits 0 and leaves an empty file on an error packet; curl/atftp exit non-0
        # (curl 68 is CURLE_TFTP_NOTFOUND).
        if (client == "curl" and result.returncode == 68) or (
                client != "curl" and re.search(r"(?i)\bfile not found\b", said)):
            return Fetch(404, b"", said or "not found")
        if result.returncode != 0 or "Error code" in said or (not data and client == "tftp"):
            return Fetch(0, data, f"{client} exit {result.returncode}: {said}")
        return Fetch(200, data)


def tftp_get(port: int, name: str, client: str = "tftp", blksize: int | None = None,
             host: str = "127.0.0.1", netns: str | None = None) -> bytes | None:
    """The data of ``name`` fetched with a real TFTP client, None on any failure."""
    got = tftp_fetch(port, name, client, blksize, host, netns)
    return got.data if got.status == 200 else None


def http_get(address: str, name: str, user_agent: str = "", digest: tuple[str, str] | None = None,
             interface: str | None = None, extra: tuple[str, ...] = (),
             netns: str | None = None) -> tuple[int, bytes, str]:
    """``(status, body, headers)`` of GET ``name`` with curl and a real User-Agent."""
    args = list(extra)
    if digest:
        args += ["--digest", "-u", f"{digest[0]}:{digest[1]}"]
    if interface:
        args += ["--interface", interface]
    got = curl_http(f"http://{address}/{name}", user_agent, tuple(args), netns=netns)
    return got.status, got.data, got.detail


def curl_http(url: str, user_agent: str = "", extra: tuple[str, ...] = (),
              netns: str | None = None, put: bytes | None = None) -> Fetch:
    """GET (or PUT ``put``) ``url`` with curl: the status, body and response headers."""
    with tempfile.TemporaryDirectory() as tmp:
        body, head = Path(tmp) / "body", Path(tmp) / "head"
        cmd = ["curl", "-s", "--path-as-is", "--noproxy", "*", "-o", str(body), "-D",
               str(head), "-w", "%{http_code}", "--max-time", "15", *extra]
        if user_agent:
            cmd += ["-A", user_agent]
        if put is not None:
            (Path(tmp) / "upload").write_bytes(put)
            cmd += ["-T", str(Path(tmp) / "upload")]
        cmd.append(url)
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        code = int(result.stdout[-3:]) if result.stdout[-3:].isdigit() else 0
        data = body.read_bytes() if body.exists() else b""
        return Fetch(code, data, head.read_text() if head.exists() else "")


def fetch_url(url: str, *, user_agent: str = "", credentials: tuple[str, str] | None = None,
              netns: str | None = None, tftp_client: str = "curl",
              put: bytes | None = None) -> Fetch:
    """What a phone gets for ``url`` (``tftp://`` or ``http://``, credentials in the URL or
    given): HTTP answers a challenge with whatever scheme the server asks for (curl
    ``--anyauth``), as a phone holding credentials does."""
    parts = urlsplit(url)
    path = unquote(parts.path.lstrip("/"))
    if parts.scheme == "tftp":
        assert put is None and parts.hostname, url
        return tftp_fetch(parts.port or 69, path, tftp_client, host=parts.hostname,
                          netns=netns)
    assert parts.scheme == "http", url
    extra: tuple[str, ...] = ()
    if credentials:
        extra = ("--anyauth", "-u", f"{credentials[0]}:{credentials[1]}")
    elif parts.username is not None:
        extra = ("--anyauth",)  # curl takes the user and password from the URL
    return curl_http(url, user_agent, extra, netns=netns, put=put)


def parse_cfg(data: bytes) -> dict[str, str]:
    """Yealink's ``key = value`` lines (first line ``#!version:1.0.0.1``)."""
    text = data.decode("utf-8")
    assert text.startswith("#!version:1.0.0.1\n"), text[:40]
    values = {}
    for line in text.splitlines()[1:]:
        if line.strip() and not line.startswith("#"):
            key, sep, value = line.partition(" = ")
            assert sep, f"not a key = value line: {line!r}"
            values[key.strip()] = value
    return values


def _host_port(text: str) -> tuple[str, str]:
    """``host``, ``host:port`` or ``[v6]:port`` as (host, port or "")."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.removeprefix(":")
    host, sep, port = text.rpartition(":")
    return (host, port) if sep and ":" not in host else (text, "")


def sip_account(vendor: str, data: bytes) -> dict[str, str]:
    """Line 1 of a per-MAC file read the vendor's way: ``enabled`` ("1"/"0"), ``user``,
    ``auth`` (the name the phone answers a challenge with), ``password``, ``label``, and
    the registrar's ``host``, ``port`` ("" for the vendor's default) and ``transport``
    (``udp``, ``tcp``, ``tls``)."""
    if vendor == "yealink":
        v = parse_cfg(data)
        a = "account.1."
        return {"enabled": v[a + "enable"], "user": v[a + "user_name"],
                "auth": v[a + "auth_name"] or v[a + "user_name"], "password": v[a + "password"],
                "label": v[a + "label"], "host": v[a + "sip_server.1.address"],
                "port": v[a + "sip_server.1.port"],
                "transport": {"0": "udp", "1": "tcp", "2": "tls", "3": "dns-naptr"}[
                    v[a + "sip_server.1.transport_type"]]}
    root = ET.fromstring(data)
    if vendor == "polycom":
        reg = root.find("reg")
        assert reg is not None
        r = reg.attrib
        user = r["reg.1.address"].split("@")[0]
        return {"enabled": "1" if user else "0", "user": user,
                "auth": r["reg.1.auth.userId"] or user, "password": r["reg.1.auth.password"],
                "label": r["reg.1.label"], "host": r["reg.1.server.1.address"],
                "port": r["reg.1.server.1.port"],
                "transport": {"UDPOnly": "udp", "TCPOnly": "tcp", "TCPpreferred": "tcp",
                              "TLS": "tls", "DNSnaptr": "dns-naptr"}[
                    r["reg.1.server.1.transport"]]}
    if vendor == "cisco":
        def c(tag: str) -> str:
            return root.findtext(tag) or ""
        host, port = _host_port(c("Proxy_1_"))
        user = c("User_ID_1_")
        return {"enabled": "1" if c("Line_Enable_1_") == "Yes" else "0", "user": user,
                "auth": c("Auth_ID_1_") if c("Use_Auth_ID_1_") == "Yes" else user,
                "password": c("Password_1_"), "label": c("Short_Name_1_"), "host": host,
                "port": port, "transport": (c("SIP_Transport_1_") or "UDP").lower()}
    if vendor == "grandstream":
        def p(tag: str) -> str:
            return root.findtext(f"config/{tag}") or ""
        host, port = _host_port(p("P47"))
        return {"enabled": p("P271"), "user": p("P35"), "auth": p("P36") or p("P35"),
                "password": p("P34"), "label": p("P270"), "host": host, "port": port,
                "transport": {"0": "udp", "1": "tcp", "2": "tls"}[p("P130") or "0"]}
    if vendor == "snom":
        def s(tag: str) -> str:
            return root.findtext(f"phone-settings/{tag}") or ""
        where, *params = s("user_host").split(";")  # host:port;transport=udp
        host, port = _host_port(where)
        options = dict(param.partition("=")[::2] for param in params)
        return {"enabled": "1" if s("user_active") == "on" else "0", "user": s("user_name"),
                "auth": s("user_pname") or s("user_name"), "password": s("user_pass"),
                "label": s("user_idle_text"), "host": host, "port": port,
                "transport": options.get("transport", "udp").lower()}
    assert vendor == "fanvil"
    if root.tag == "VOIP_CONFIG_FILE":  # the older X line (X4)
        def o(tag: str) -> str:
            return root.findtext(f"SIP_CONFIG_MODULE/SIP_Line_List/SIP_Line_List_Entry/{tag}") or ""
        user, auth, label = o("Phone_Number"), o("Register_User"), o("Sip_Name")
        line = {"enabled": o("Enable_Reg"), "password": o("Register_Pswd"),
                "host": o("Register_Addr"), "port": o("Register_Port"), "transport": o("Transport")}
    else:
        def f(tag: str) -> str:
            return root.findtext(f"sip/line/{tag}") or ""
        user, auth, label = f("PhoneNumber"), f("RegisterUser"), f("SipName")
        line = {"enabled": f("EnableReg"), "password": f("RegisterPswd"),
                "host": f("RegisterAddr"), "port": f("RegisterPort"), "transport": f("Transport")}
    return {**line, "user": user, "auth": auth or user, "label": label,
            "transport": {"0": "udp", "1": "tcp", "3": "tls"}[line["transport"] or "0"]}


def account_of(vendor: str, data: bytes) -> dict[str, str]:
    """Line 1 of a per-MAC file, whatever the vendor: enabled, user, auth, password, label and
    the registrar's host as ``server``."""
    account = sip_account(vendor, data)
    return {"enabled": account["enabled"], "user": account["user"], "auth": account["auth"],
            "password": account["password"], "label": account["label"],
            "server": account["host"]}


def cisco_rule(text: str, macros: dict[str, str]) -> tuple[str, str, str]:
    """``(uid, pwd, url)`` of a Cisco ``Profile_Rule``: ``[--uid USER --pwd PASSWORD]URL``
    (the options optional), with ``$NAME`` macros expanded (``$MA`` lower-case MAC, ``$PN``
    product name; an unknown macro fails)."""
    rule = re.fullmatch(r"(?:\[(?P<options>[^\]]*)\])?(?P<url>\S+)", text.strip())
    assert rule, text
    options = dict(re.findall(r"--(uid|pwd)\s+(\S+)", rule["options"] or ""))

    def expand(found: re.Match[str]) -> str:
        assert found[1] in macros, f"macro ${found[1]} in {text!r}"
        return macros[found[1]]

    url = re.sub(r"\$([A-Z]+)", expand, rule["url"])
    return options.get("uid", ""), options.get("pwd", ""), url


def http_credentials(vendor: str, data: bytes) -> tuple[str, str, str]:
    """``(user, password, url)`` a per-MAC file hands its phone for the provisioning server,
    read from that vendor's own keys; ``url`` is the credentialed URL where the vendor puts
    them in one (Cisco ``Profile_Rule``, Snom ``setting_server`` or listed file), else ``""``."""
    if vendor == "yealink":
        v = parse_cfg(data)
        return (v["static.auto_provision.server.username"],
                v["static.auto_provision.server.password"], "")
    root = ET.fromstring(data)
    if vendor == "polycom":
        device = root.find("device")
        assert device is not None
        return device.attrib["device.prov.user"], device.attrib["device.prov.password"], ""
    if vendor == "grandstream":
        return root.findtext("config/P1360") or "", root.findtext("config/P1361") or "", ""
    if vendor == "fanvil":
        if root.tag == "VOIP_CONFIG_FILE":
            return (root.findtext("AUTOUPDATE_CONFIG_MODULE/Download_Username") or "",
                    root.findtext("AUTOUPDATE_CONFIG_MODULE/Download_Password") or "", "")
        return (root.findtext("ap/DefaultUsername") or "",
                root.findtext("ap/DefaultPassword") or "", "")
    if vendor == "cisco":  # [--uid USER --pwd PASSWORD]URL
        text = root.findtext("Profile_Rule") or ""
        rule = cisco_rule(text, {})
        assert rule[0] and rule[1], text
        return rule
    if root.tag == "setting-files":  # Snom's list of files: their URLs carry them
        url = root.find("file").attrib["url"]  # type: ignore[union-attr]
    else:
        url = root.findtext("phone-settings/setting_server")
    assert url, vendor
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.username and parts.password, url
    return unquote(parts.username), unquote(parts.password), url


def wait_for_phone(config: Path, mac: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
    """The phone's JSON once it is in the inventory with ``fields`` (bounded wait)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        result = appliance(config, "phone", "show", mac, "--json", check=False)
        if result.returncode == 0:
            last = appliance_json(config, "phone", "show", mac)
            if all(last.get(k) == v for k, v in fields.items()):
                return dict(last)
        time.sleep(0.1)
    raise AssertionError(f"phone {mac} not in the inventory with {fields}: {last}")


def setup_extension(config: Path, number: str, name: str, mac: str) -> dict[str, Any]:
    """An employee with extension ``number`` and the phone ``mac`` assigned; the extension."""
    employee = appliance(config, "employee", "add", name).stdout.strip()
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    appliance(config, "ext", "add", number, "--name", re.sub(r"\W+", ".", ascii_name.lower()))
    appliance(config, "ext", "assign", number, employee)
    appliance(config, "phone", "assign", mac, number)
    result: dict[str, Any] = appliance_json(config, "ext", "show", number)
    result["employee_id"] = int(employee)
    return result
