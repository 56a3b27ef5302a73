"""What a vendor family module declares: its file routes, its User-Agent parser, its OUIs."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["common", "device", "firmware", "miss", "phonebook", "upload"]

MAC_RE = r"(?P<mac>[0-9a-f]{12})"
MAC_UPPER_RE = r"(?P<mac>[0-9A-F]{12})"


@dataclass(frozen=True)
class Route:
    """A file name pattern (matched on the whole relative path) and what serves it.

    ``kind``: ``common`` (no secret, any requester), ``device`` (per-MAC, guarded),
    ``firmware`` (the stored image), ``miss`` (a name the phone tries that we do not serve;
    it never counts against the requester), ``upload`` (a file the phone may PUT),
    ``phonebook`` (the company phonebook as the per-MAC phone in the path reads it).
    """

    pattern: re.Pattern[str]
    kind: Kind
    template: str = ""
    content_type: str = "text/plain; charset=utf-8"

    def match(self, path: str) -> re.Match[str] | None:
        """The regex match of ``path``, or None."""
        return self.pattern.fullmatch(path)


def route(pattern: str, kind: Kind, template: str = "", content_type: str = "",
          flags: int = 0) -> Route:
    """A Route from a regex string."""
    return Route(re.compile(pattern, flags), kind, template,
                 content_type or "text/plain; charset=utf-8")


@dataclass(frozen=True)
class Identity:
    """What a request tells about the phone: vendor, model, firmware version, MAC."""

    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None
    mac: str | None = None


@dataclass(frozen=True)
class Vendor:
    """A vendor family: its routes, its OUIs, how to read its User-Agent, template extras."""

    name: str
    label: str
    routes: tuple[Route, ...]
    ouis: frozenset[str]
    folders: tuple[str, ...] = ()
    parse_user_agent: Callable[[str], Identity | None] = lambda _ua: None
    extras: Callable[[Mapping[str, Any]], dict[str, Any]] = lambda _ctx: {}
    notify_event: str = "check-sync"
    http_auth: bool = False
    languages: Mapping[str, str] = field(default_factory=dict)
    readback: frozenset[str] = frozenset()  # uploads the phone fetches back (GET) at boot


def normalise_mac(text: str) -> str:
    """12 lower-case hex digits from a MAC written with or without separators."""
    return re.sub(r"[^0-9a-fA-F]", "", text).lower()


def version_key(version: str | None) -> tuple[int, ...]:
    """A sortable key from a dotted version such as ``108.86.0.90`` (non-digits split)."""
    if not version:
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", version)[:8])


PHONEBOOK_XML = "application/xml"


def phonebook_route(vendor: str, template: str, file: str = "") -> Route:
    """The route of ``vendor``'s company phonebook: ``phonebook/<vendor>/<mac>.xml``, or
    ``phonebook/<vendor>/<mac>/<file>`` for phones that append a file name to a folder."""
    tail = "/" + re.escape(file) if file else r"\.xml"
    return route(f"phonebook/{vendor}/" + MAC_RE + tail, "phonebook", template, PHONEBOOK_XML)


def phonebook_url(ctx: Mapping[str, Any], vendor: str, file: str = "",
                  base: str = "") -> str:
    """Where the phone of ``ctx`` fetches the company phonebook (``phonebook_route``), on
    ``base`` (default: the HTTP base the phone reaches the box on); "" in a file of no phone."""
    mac = str(ctx["mac"])
    if not mac:
        return ""
    root = base or str(ctx["prov"]["http_base"])
    return f"{root}/phonebook/{vendor}/{mac}" + (f"/{file}" if file else ".xml")
