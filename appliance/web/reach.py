"""How phones and softphones reach the box, as the admin page shows it: DHCP option 66, the
TFTP URL, the SIP server. Ports are those the running daemon bound (``ports.json``), else
the config's; on a wildcard bind the hosts are the box's LAN addresses, never ``0.0.0.0``
or the loopback (the address the browser used comes first when it is one of them)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config import Config, Listen, parse_listen
from appliance.errors import ConfigError
from appliance.lan.addresses import (
    is_wildcard,
    lan_addresses,
    reachable,
    server_url,
    serves,
    unbracket,
)
from appliance.web import hooks


@dataclass(frozen=True)
class PhoneUrls:
    """Where phones fetch their files: the DHCP option 66 value(s) and the TFTP URL(s)."""

    option66: list[str]
    tftp: list[str]


def seen_host(host: str | None) -> str:
    """The host part of a ``Host`` header (``box:8000``, ``[fd00::2]:8000``)."""
    host = host or ""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _bound(config: Config, name: str, configured: Listen) -> Listen:
    text = hooks.bound_addresses(config).get(name)
    if text:
        try:
            return parse_listen(text)
        except ConfigError:
            pass
    return configured


def hosts(listen: Listen, seen_as: str, lan: list[str] | None = None,
          dual_stack: bool = False) -> list[str]:
    """The addresses phones reach a server bound to ``listen`` on, best first
    (``dual_stack``: see ``lan.addresses.serves``)."""
    if not is_wildcard(unbracket(listen.host)):
        return [unbracket(listen.host)]
    lan = [a for a in (lan_addresses() if lan is None else lan)
           if serves(listen.host, a, dual_stack)]
    seen = unbracket(seen_as)
    if seen in lan:
        lan = [seen, *[a for a in lan if a != seen]]
    return lan or [reachable(listen.host, seen, (), dual_stack)]


def phone_urls(config: Config, seen_as: str) -> PhoneUrls | None:
    """The provisioning URLs phones are given; None when provisioning is switched off."""
    prov = config.provisioning
    if not prov.enabled:
        return None
    http = _bound(config, "http", prov.http_listen)
    tftp = _bound(config, "tftp", prov.tftp_listen)
    lan = lan_addresses()
    option66 = [prov.url + "/"] if prov.url else [
        server_url("http", h, http.port, 80) + "/" for h in hosts(http, seen_as, lan)]
    return PhoneUrls(option66, [server_url("tftp", h, tftp.port, 69)
                                for h in hosts(tftp, seen_as, lan, dual_stack=True)])


def sip_servers(config: Config, seen_as: str) -> list[str]:
    """What a phone or softphone registers to, best first: the SIP domain, else
    ``provisioning.sip_server``, else each address of the box with the bound SIP port
    (``:5060`` left out)."""
    sip = config.sip
    if sip.domain:
        return [sip.domain]
    if config.provisioning.sip_server:
        return [config.provisioning.sip_server]
    listen = _bound(config, "sip_udp", sip.listen)
    return [server_url("sip", h, listen.port or 5060, 5060).removeprefix("sip://")
            for h in hosts(listen, seen_as, dual_stack=True)]
