"""The company phonebook: every active employee with an extension, as each vendor reads it.

Read from the store at every fetch, so a dismissed employee (whose extension is freed in the
same transaction) or a freed extension is gone from the next file a phone fetches. Each
vendor's format is a template (``templates/<vendor>/phonebook.xml``, routed by
``vendors.base.phonebook_route``); keys and sources are in docs/vendors.md ("Phonebook").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from appliance.provisioning.render import Account, Renderer, Site
from appliance.provisioning.vendors.base import Vendor
from appliance.store import Store
from appliance.store.tables import employees, extensions


@dataclass(frozen=True)
class Entry:
    """One line of the phonebook: the employee's name and the extension that reaches them."""

    name: str
    number: str


# Built once (SQLAlchemy keeps the compiled form on the object); every fetch runs it.
_ENTRIES = (select(employees.c.name, extensions.c.number)
            .select_from(extensions)
            .join(employees, employees.c.id == extensions.c.employee_id)
            .where(employees.c.status == "active"))


def ordered(rows: Sequence[tuple[str, str]]) -> list[Entry]:
    """Entries from ``(name, number)`` pairs, names trimmed, sorted by name (case-blind),
    then number; blank names are listed by their number."""
    found = [Entry(" ".join(name.split()) or number, number) for name, number in rows]
    return sorted(found, key=lambda e: (e.name.casefold(), e.name, len(e.number), e.number))


def entries(store: Store) -> list[Entry]:
    """The active employees holding an extension, sorted (``ordered``)."""
    with store.read() as conn:
        rows = [(str(r.name), str(r.number)) for r in conn.execute(_ENTRIES)]
    return ordered(rows)


def render(renderer: Renderer, vendor: Vendor, template: str, site: Site, now: datetime,
           mac: str, model: str | None, listed: Sequence[Entry]) -> bytes:
    """Phone ``mac``'s phonebook file: ``listed`` in ``vendor``'s format (no secret in it)."""
    ctx = renderer.context(vendor, site, now, mac=mac, model=model, account=Account.off(),
                           prov={}, entries=listed)
    return renderer.render(template, ctx)
