"""Helpers for provisioning tests: a config with provisioning on, real TFTP and HTTP clients."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
import tomllib
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.integration.conftest import appliance, appliance_json, write_config

DATA = Path(__file__).resolve().parents[1] / "data" / "provisioning"
USER_AGENTS: dict[str, dict[str, str]] = tomllib.loads(
    (DATA / "user_agents.toml").read_text(encoding="utf-8"))


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


def tftp_get(port: int, name: str, client: str = "tftp", blksize: int | None = None,
             host: str = "127.0.0.1", netns: str | None = None) -> bytes | None:
    """Fetch ``name`` with a real TFTP client (tftp-hpa ``tftp``, ``atftp`` or ``curl``)."""
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
        # tftp-hpa exits 0 and leaves an empty file on an error packet; curl/atftp exit non-0.
        failed = result.returncode != 0 or b"Error code" in result.stdout + result.stderr
        return None if failed or (not data and client == "tftp") else data


def http_get(address: str, name: str, user_agent: str = "", digest: tuple[str, str] | None = None,
             interface: str | None = None, extra: tuple[str, ...] = (),
             netns: str | None = None) -> tuple[int, bytes, str]:
    """``(status, body, headers)`` of GET ``name`` with curl and a real User-Agent."""
    with tempfile.TemporaryDirectory() as tmp:
        body, head = Path(tmp) / "body", Path(tmp) / "head"
        cmd = ["curl", "-s", "--path-as-is", "-o", str(body), "-D", str(head), "-w",
               "%{http_code}", "--max-time", "15", *extra]
        if user_agent:
            cmd += ["-A", user_agent]
        if digest:
            cmd += ["--digest", "-u", f"{digest[0]}:{digest[1]}"]
        if interface:
            cmd += ["--interface", interface]
        cmd.append(f"http://{address}/{name}")
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        code = int(result.stdout[-3:]) if result.stdout[-3:].isdigit() else 0
        data = body.read_bytes() if body.exists() else b""
        return code, data, head.read_text() if head.exists() else ""


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


def account_of(vendor: str, data: bytes) -> dict[str, str]:
    """Line 1 of a per-MAC file, whatever the vendor: enabled, user, auth, password, server."""
    if vendor == "yealink":
        v = parse_cfg(data)
        return {"enabled": v["account.1.enable"], "user": v["account.1.user_name"],
                "auth": v["account.1.auth_name"], "password": v["account.1.password"],
                "label": v["account.1.label"], "server": v["account.1.sip_server.1.address"]}
    root = ET.fromstring(data)
    if vendor == "polycom":
        reg = root.find("reg")
        assert reg is not None
        a = reg.attrib
        return {"enabled": "1" if a["reg.1.address"] else "0", "user": a["reg.1.address"],
                "auth": a["reg.1.auth.userId"], "password": a["reg.1.auth.password"],
                "label": a["reg.1.label"], "server": a["reg.1.server.1.address"]}
    if vendor == "cisco":
        def c(tag: str) -> str:
            return root.findtext(tag) or ""
        return {"enabled": "1" if c("Line_Enable_1_") == "Yes" else "0", "user": c("User_ID_1_"),
                "auth": c("Auth_ID_1_"), "password": c("Password_1_"),
                "label": c("Short_Name_1_"), "server": c("Proxy_1_").split(":")[0]}
    if vendor == "grandstream":
        def p(tag: str) -> str:
            return root.findtext(f"config/{tag}") or ""
        return {"enabled": p("P271"), "user": p("P35"), "auth": p("P36"), "password": p("P34"),
                "label": p("P270"), "server": p("P47").split(":")[0]}
    if vendor == "snom":
        def s(tag: str) -> str:
            return root.findtext(f"phone-settings/{tag}") or ""
        return {"enabled": "1" if s("user_active") == "on" else "0", "user": s("user_name"),
                "auth": s("user_pname"), "password": s("user_pass"),
                "label": s("user_idle_text"), "server": s("user_host").split(":")[0]}
    assert vendor == "fanvil"
    if root.tag == "VOIP_CONFIG_FILE":  # the older X line (X4)
        def o(tag: str) -> str:
            return root.findtext(f"SIP_CONFIG_MODULE/SIP_Line_List/SIP_Line_List_Entry/{tag}") or ""
        return {"enabled": o("Enable_Reg"), "user": o("Phone_Number"),
                "auth": o("Register_User"), "password": o("Register_Pswd"),
                "label": o("Sip_Name"), "server": o("Register_Addr")}
    def f(tag: str) -> str:
        return root.findtext(f"sip/line/{tag}") or ""
    return {"enabled": f("EnableReg"), "user": f("PhoneNumber"), "auth": f("RegisterUser"),
            "password": f("RegisterPswd"), "label": f("SipName"), "server": f("RegisterAddr")}


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
        rule = re.fullmatch(r"\[--uid (\S+) --pwd (\S+)\](\S+)", text)
        assert rule, text
        return rule[1], rule[2], rule[3]
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
