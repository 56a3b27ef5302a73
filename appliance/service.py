"""What a part of the daemon looks like to ``daemon.py``: a context in, a Service out.

Each part (``media``, ``sip``, ``provisioning``, ``discovery``, ``web``) has a module
``appliance/<part>/service.py`` (the SIP part: ``appliance/routing/service.py``) with
``create(ctx: ServiceContext) -> Service``. The daemon
imports it only when the part is enabled, starts the parts in ``PARTS`` order, and stops
them in reverse. A part reaches an earlier one through ``ctx.services`` (for example
provisioning sends its check-sync NOTIFY through the SIP part), never through globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from appliance.config import Config, Listen
from appliance.events import EventBus
from appliance.store import Store

if TYPE_CHECKING:
    from appliance.media.plane import MediaPlane
    from appliance.media.prompts import PromptFiles


class Service(Protocol):
    """A running part of the daemon."""

    async def start(self) -> dict[str, Listen]:
        """Bind and start serving; return the bound addresses by name (e.g. ``"sip_udp"``)."""
        ...

    async def stop(self) -> None:
        """Stop serving and release every socket and thread."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """What provisioning needs of the SIP part: an out-of-dialog NOTIFY to a phone."""

    def send_notify(self, host: str, port: int, *fields: str) -> object:
        """Send ``NOTIFY`` (``fields``: event, or user and event) to ``host:port``."""
        ...


@dataclass
class ServiceContext:
    """What every part gets: config, store, the event bus, and the parts started before it."""

    config: Config
    store: Store
    bus: EventBus
    services: dict[str, Service] = field(default_factory=dict)
    bound: dict[str, Listen] = field(default_factory=dict)

    def notifier(self) -> Notifier | None:
        """The SIP part, to send NOTIFYs through, when it runs."""
        sip = self.services.get("sip")
        return sip if isinstance(sip, Notifier) else None

    def media_plane(self) -> MediaPlane | None:
        """The media part's plane the calls are anchored in, when it runs."""
        from appliance.media.service import MediaService  # it imports this module

        media = self.services.get("media")
        return media.plane if isinstance(media, MediaService) else None

    def media_prompts(self) -> PromptFiles | None:
        """The media part's prompt files, when it runs."""
        from appliance.media.service import MediaService  # it imports this module

        media = self.services.get("media")
        return media.prompts if isinstance(media, MediaService) else None


# Start order: media first (the call logic in the SIP part anchors calls on it), then SIP
# (provisioning pushes NOTIFY through it and discovery's PnP shares its socket), the web last
# (it shows what the others report).
PARTS = ("media", "sip", "provisioning", "discovery", "web")
# Where a part's ``create`` lives when not in ``appliance/<part>/service.py``: the SIP part is
# wired by the routing layer, so that ``sip/`` stays the protocol alone.
MODULES = {"sip": "appliance.routing.service"}


def enabled(config: Config, part: str) -> bool:
    """True when ``part`` is switched on in ``config``."""
    if part == "discovery":
        d = config.discovery
        return d.pnp or d.mdns or d.snmp or d.neighbors
    return bool(getattr(config, part).enabled)
