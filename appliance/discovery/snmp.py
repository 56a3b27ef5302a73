"""SNMP sweep: ask every host of a subnet who it is (pysnmp 7, asyncio), boundedly at once."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    usmAesCfb128Protocol,
    usmDESPrivProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto.rfc1902 import ObjectIdentifier

from appliance.config import SnmpV3User
from appliance.discovery.identify import Identity, from_description

log = logging.getLogger(__name__)

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
ENT_MODEL = "1.3.6.1.2.1.47.1.1.1.1.13.1"  # entPhysicalModelName.1
ENT_SOFTWARE = "1.3.6.1.2.1.47.1.1.1.1.10.1"  # entPhysicalSoftwareRev.1
IF_PHYS_ADDRESS = "1.3.6.1.2.1.2.2.1.6"  # ifPhysAddress.<ifIndex>
ASKED = (SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, ENT_MODEL, ENT_SOFTWARE)
MAX_HOSTS = 4096  # a sweep never goes wider than a /20
# Datagrams to a host whose ARP is unresolved wait in the kernel (about 3 s) charged to the
# sending socket; a few hundred of them fill its send buffer and later sends, even to hosts
# that answer, are dropped. So each group of hosts gets a socket (an SNMP engine) of its own.
HOSTS_PER_SOCKET = 64

AUTH = {"md5": usmHMACMD5AuthProtocol, "sha": usmHMACSHAAuthProtocol,
        "sha256": usmHMAC192SHA256AuthProtocol}
PRIV = {"aes": usmAesCfb128Protocol, "des": usmDESPrivProtocol}


@dataclass(frozen=True)
class SnmpAnswer:
    """What one host said: its address, the raw values, and who it is."""

    ip: str
    values: dict[str, str]
    identity: Identity
    mac: str | None


def hosts(subnets: Iterable[str]) -> list[str]:
    """The host addresses of ``subnets``, capped at MAX_HOSTS, without duplicates."""
    found: dict[str, None] = {}
    for subnet in subnets:
        for ip in ipaddress.ip_network(subnet, strict=False).hosts():
            found[str(ip)] = None
            if len(found) >= MAX_HOSTS:
                return list(found)
    return list(found)


def credentials(communities: Iterable[str], users: Iterable[SnmpV3User]) -> list[Any]:
    """pysnmp auth data for each community (v2c) and each v3 user."""
    # v2c is what desk phones speak when SNMP is on at all; v3 users are offered beside it.
    auth: list[Any] = [CommunityData(c, mpModel=1) for c in communities]  # noqa: S508
    for u in users:
        if u.priv_key:
            auth.append(UsmUserData(u.user, u.auth_key, u.priv_key, authProtocol=AUTH[u.auth],
                                    privProtocol=PRIV[u.priv]))
        else:
            auth.append(UsmUserData(u.user, u.auth_key, authProtocol=AUTH[u.auth]))
    return auth


def _text(value: Any) -> str:
    if isinstance(value, ObjectIdentifier):
        return ".".join(str(part) for part in value)
    if hasattr(value, "prettyPrint"):
        text = str(value.prettyPrint())
        return "" if text.startswith("No Such") else text
    return str(value)


def mac_from_octets(raw: bytes) -> str | None:
    """A MAC from an ifPhysAddress value, or None for an empty or all-zero one."""
    if len(raw) != 6 or not any(raw):
        return None
    return raw.hex()


class Sweeper:
    """Sends GETs to many hosts at once, at most ``concurrency`` in flight."""

    def __init__(self, auth: list[Any], port: int = 161, timeout: float = 1.0,
                 retries: int = 1, concurrency: int = 256) -> None:
        self.auth = auth
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.concurrency = concurrency

    async def ask(self, engine: SnmpEngine, ip: str, auth: Any) -> SnmpAnswer | None:
        """Ask one host with one credential; None when it does not answer."""
        target = await UdpTransportTarget.create((ip, self.port), timeout=self.timeout,
                                                 retries=self.retries)
        values = await self._get(engine, auth, target, ASKED)
        if values is None:
            return None
        macs = await self._get(engine, auth, target,
                               (f"{IF_PHYS_ADDRESS}.1", f"{IF_PHYS_ADDRESS}.2"))
        mac = None
        for raw in (macs or {}).values():
            mac = mac or mac_from_octets(raw.encode("latin-1"))
        identity = from_description(values.get(SYS_DESCR, ""), values.get(SYS_OBJECT_ID, ""),
                                    values.get(ENT_MODEL, ""), values.get(ENT_SOFTWARE, ""))
        return SnmpAnswer(ip, values, identity, mac)

    @staticmethod
    async def _get(engine: SnmpEngine, auth: Any, target: Any,
                   oids: tuple[str, ...]) -> dict[str, str] | None:
        try:
            error, status, _index, binds = await get_cmd(
                engine, auth, target, ContextData(),
                *(ObjectType(ObjectIdentity(oid)) for oid in oids))
        except Exception as exc:  # a host that cannot be reached must not stop the sweep
            log.debug("snmp %s: %s", target, exc)
            return None
        if error or status:
            return None
        values = {}
        for oid, value in binds:
            raw = value.asOctets() if hasattr(value, "asOctets") else None
            text = raw.decode("latin-1") if raw is not None and str(oid).startswith(
                IF_PHYS_ADDRESS) else _text(value)
            values[str(oid)] = text
        return values

    async def sweep(self, subnets: Iterable[str]) -> list[SnmpAnswer]:
        """Ask every host of ``subnets``, one credential per round (the next round asks only
        the hosts still silent); the hosts that answered."""
        limit = asyncio.Semaphore(self.concurrency)
        pending = hosts(subnets)
        found: list[SnmpAnswer] = []

        async def one(engine: SnmpEngine, ip: str, auth: Any) -> SnmpAnswer | None:
            async with limit:
                return await self.ask(engine, ip, auth)

        for auth in self.auth:
            groups = [pending[i:i + HOSTS_PER_SOCKET]
                      for i in range(0, len(pending), HOSTS_PER_SOCKET)]
            engines = [SnmpEngine() for _ in groups]
            try:
                results = await asyncio.gather(*(one(engine, ip, auth)
                                                 for engine, group in zip(engines, groups,
                                                                          strict=True)
                                                 for ip in group))
            finally:
                for engine in engines:
                    engine.close_dispatcher()
            answered = [answer for answer in results if answer is not None]
            found.extend(answered)
            done = {answer.ip for answer in answered}
            pending = [ip for ip in pending if ip not in done]
            if not pending:
                break
        return sorted(found, key=lambda a: ipaddress.ip_address(a.ip))
