"""Every sighting, whichever way it came, merged into the one inventory row of its MAC."""

from __future__ import annotations

import logging

from appliance.directory import Directory, Phone
from appliance.discovery.mdns import Found
from appliance.discovery.pnp import Subscription
from appliance.discovery.snmp import SnmpAnswer
from appliance.errors import DirectoryError
from appliance.lan.neighbors import Neighbor, lookup, mac_of, resolve
from appliance.lan.oui import vendor_of

log = logging.getLogger(__name__)


class Inventory:
    """Records sightings through the directory (blocking: call from a worker thread)."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def _record(self, mac: str, method: str, **fields: str | None) -> Phone | None:
        try:
            return self.directory.record_sighting(mac, method, **fields)
        except DirectoryError as exc:
            log.info("%s sighting of %s not recorded: %s", method, mac, exc)
            return None

    def pnp(self, sub: Subscription, ip: str) -> Phone | None:
        """A phone that asked for its provisioning URL by SIP PnP."""
        return self._record(sub.mac, "pnp", ip=ip, vendor=sub.vendor, model=sub.model,
                            firmware=sub.firmware)

    def snmp(self, answer: SnmpAnswer, table: list[Neighbor] | None = None) -> Phone | None:
        """A host that answered the SNMP sweep; its MAC from the neighbor table, else the
        agent's own ifPhysAddress."""
        mac = (mac_of(answer.ip, table) if table is not None else lookup(answer.ip)) or answer.mac
        if mac is None:
            log.info("snmp: %s answered but its MAC is unknown", answer.ip)
            return None
        who = answer.identity
        return self._record(mac, "snmp", ip=answer.ip, vendor=who.vendor or vendor_of(mac),
                            model=who.model, firmware=who.firmware,
                            detail=answer.values.get("1.3.6.1.2.1.1.5.0"))

    def mdns(self, found: Found, table: list[Neighbor] | None = None) -> Phone | None:
        """A phone or softphone that announced itself; found by its MAC in the table."""
        for ip in found.addresses:
            mac = mac_of(ip, table) if table is not None else resolve(ip, found.port or 9)
            if mac is not None:
                who = found.identity
                return self._record(mac, "mdns", ip=ip, vendor=who.vendor or vendor_of(mac),
                                    model=who.model, firmware=who.firmware,
                                    detail=f"{found.name} ({found.type_})")
        log.info("mdns: %s has no address in the neighbor table", found.name)
        return None

    def neighbors(self, table: list[Neighbor]) -> list[Phone]:
        """Neighbors whose OUI belongs to a phone vendor."""
        recorded = []
        for neighbor in table:
            vendor = vendor_of(neighbor.mac)
            if vendor is None:
                continue
            phone = self._record(neighbor.mac, "neighbors", ip=neighbor.ip, vendor=vendor)
            if phone is not None:
                recorded.append(phone)
        return recorded
