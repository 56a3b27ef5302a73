"""A DNS that answers from a table, for the RFC 3263 lookups (``sip/locate.py``) and the
server book (``calls/servers.py``): no packet leaves the test."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.sip.locate import Answer, SrvRecord


@dataclass
class FakeDns:
    """``records[(name, rdtype)]`` is the answer; anything else has no records. Every query
    is kept in ``asked``; ``failing`` names get a DNS error instead."""

    records: dict[tuple[str, str], Answer] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def a(self, name: str, *addresses: str, ttl: float = 300.0) -> None:
        """Give ``name`` A (and AAAA, for addresses with a colon) records."""
        v4 = tuple(a for a in addresses if ":" not in a)
        v6 = tuple(a for a in addresses if ":" in a)
        self.records[(name, "A")] = Answer(v4, ttl)
        self.records[(name, "AAAA")] = Answer(v6, ttl)

    def srv(self, name: str, *records: tuple[int, int, int, str], ttl: float = 300.0) -> None:
        """Give ``name`` SRV records (priority, weight, port, target)."""
        self.records[(name, "SRV")] = Answer(tuple(SrvRecord(*r) for r in records), ttl)

    async def query(self, name: str, rdtype: str) -> Answer:
        self.asked.append((name, rdtype))
        if name in self.failing:
            return Answer(error="DNS did not answer")
        return self.records.get((name, rdtype), Answer())
