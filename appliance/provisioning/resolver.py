"""``resolve(path, peer)``: the one answer both servers give, a file or not-found.

Sans-I/O at heart: the store, the neighbor table and the clock come in as objects, and
every refusal (ban, traversal, sweep, neighbor mismatch, a peer that may not have the file,
unknown name) is the same ``None`` that a missing file is. Who may have a per-MAC file is
``access.grant``'s decision. Files are rendered per request; nothing is written per MAC.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from appliance.directory import rules
from appliance.errors import ApplianceError, ValidationError
from appliance.provisioning import access
from appliance.provisioning import identify as ident
from appliance.provisioning import phonebook as pb
from appliance.provisioning.firmware import Firmware, older
from appliance.provisioning.guard import Guard, clean_path
from appliance.provisioning.inventory import PhoneView, SightingNote
from appliance.provisioning.render import Account, Renderer, Site, seen_url
from appliance.provisioning.vendors import BY_NAME
from appliance.provisioning.vendors.base import Identity

log = logging.getLogger(__name__)

UPLOAD_LIMIT = 256 * 1024
MODEL_HINTS = 4096  # sources remembered; the oldest is forgotten first
MODEL_HINT_TTL = 600.0  # seconds a common file's model stands for the next per-MAC file
XML_TYPE = "application/xml"
ENROLL_PREFIX = "enroll/"  # enroll/<one-time token>/<file>: HTTP(S) only


class Neighbors(Protocol):
    """What the resolver asks of the kernel's neighbor table."""

    def on_link(self, ip: str) -> bool:
        """True for an address in a directly connected, non-loopback subnet."""
        ...

    def binds(self, ip: str, mac: str) -> bool:
        """True when the kernel maps ``ip`` (on-link) to ``mac``."""
        ...


class _NoNeighbors:
    """No peer is on-link: every per-MAC secret needs a routed phone subnet and proof."""

    def on_link(self, ip: str) -> bool:
        return False

    def binds(self, ip: str, mac: str) -> bool:
        return False


@dataclass(frozen=True)
class Peer:
    """Who asks: address, protocol, User-Agent, the MAC its HTTP digest proved (if any), and
    the box's own address the request came in on ("" when unknown)."""

    ip: str
    port: int
    via: str  # "tftp" | "http" | "https"
    user_agent: str = ""
    auth_mac: str | None = None
    local_ip: str = ""


@dataclass(frozen=True)
class File:
    """A file to send: rendered bytes, or a stored firmware image on disk."""

    name: str
    content_type: str
    data: bytes = b""
    path: Path | None = None

    @property
    def size(self) -> int:
        """Its length in bytes."""
        return self.path.stat().st_size if self.path is not None else len(self.data)


@dataclass(frozen=True)
class Challenge:
    """HTTP only: the file exists for an enrolled phone, which must prove it by digest."""

    mac: str


@dataclass(frozen=True)
class Upload:
    """HTTP PUT target: a phone-side file of ``mac`` the phone may upload."""

    mac: str
    name: str


Result = File | Challenge | None


@dataclass
class Urls:
    """Where phones reach this server: base URLs per protocol (no trailing slash)."""

    tftp: str
    http: str
    fallbacks: tuple[str, ...] = ()  # the box's LAN addresses, for a wildcard host
    https: str = ""  # "" when provisioning has no HTTPS listener

    def base(self, via: str) -> str:
        """The base URL for files fetched over ``via``."""
        return {"tftp": self.tftp, "https": self.https}.get(via) or self.http

    def seen_from(self, local_ip: str) -> Urls:
        """These URLs as told to a phone whose request reached the box on ``local_ip``."""
        return Urls(seen_url(self.tftp, local_ip, self.fallbacks),
                    seen_url(self.http, local_ip, self.fallbacks), self.fallbacks,
                    https=seen_url(self.https, local_ip, self.fallbacks) if self.https else "")


@dataclass
class Resolver:
    """Answers phones' requests from the store, shared by the TFTP and HTTP servers."""

    site: Site
    urls: Urls
    guard: Guard
    renderer: Renderer
    firmware: Firmware
    lookup: Callable[[str], PhoneView | None]
    note: Callable[[SightingNote], None]
    enroll: Callable[[str], None]
    password_of: Callable[[str], str | None]  # a phone's HTTP provisioning password
    redeem: Callable[[str, str], bool] = lambda _mac, _token: False  # one-time enrollment
    uploaded: Callable[[str, str], bytes | None] = lambda _mac, _name: None  # stored uploads
    neighbors: Neighbors = field(default_factory=_NoNeighbors)
    phone_subnets: tuple[access.IpNet, ...] = ()
    neighbor_check: bool = True
    http_auth: bool = True
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    phonebook: Callable[[], Sequence[pb.Entry]] = lambda: ()  # the company phonebook
    monotonic: Callable[[], float] = time.monotonic
    # source address -> (vendor, model, when): the model a common file's name told, for the
    # per-MAC file the same source asks next (a Fanvil over TFTP names its model nowhere else).
    # It picks only the file's format, for that same source, so a wrong hint costs nothing.
    _models: OrderedDict[str, tuple[str, str, float]] = field(
        default_factory=OrderedDict, init=False, repr=False)

    def device_password(self, mac: str) -> str | None:
        """The HTTP digest password of phone ``mac`` (kept per phone), None if unknown."""
        return self.password_of(mac)

    def resolve(self, raw_path: str, peer: Peer) -> Result:
        """The file ``raw_path`` names for ``peer``, a digest challenge, or None (not found)."""
        now = self.monotonic()
        if self.guard.banned(peer.ip, now):
            return None
        path = clean_path(raw_path)
        if path is None:
            self._miss(peer, "unsafe path")
            return None
        token = ""
        if path.startswith(ENROLL_PREFIX) and peer.via != "tftp":
            token, _, path = path.removeprefix(ENROLL_PREFIX).partition("/")
            if not token or not path:
                self._miss(peer, "bad enrollment URL")
                return None
        try:
            return self._resolve(path, peer, now, token)
        except ApplianceError as exc:
            log.warning("%s %s from %s: %s", peer.via, path, peer.ip, exc)
            return None

    def upload_target(self, raw_path: str, peer: Peer) -> Upload | Challenge | None:
        """Where an HTTP PUT of ``raw_path`` may go, a challenge, or None (refused)."""
        now = self.monotonic()
        path = clean_path(raw_path)
        if path is None or self.guard.banned(peer.ip, now):
            return None
        request = ident.identify(path, ident.from_user_agent(peer.user_agent))
        if request is None or request.kind != "upload" or request.mac is None:
            self._miss(peer, "not an upload name")
            return None
        if not self._device_allowed(request.mac, peer, now):
            return None
        view = self.lookup(request.mac)
        verdict = access.grant(self._ask(request.mac, peer, request.vendor.http_auth,
                                         view is not None and view.enrolled))
        if verdict is access.Grant.CHALLENGE:
            return Challenge(request.mac)
        if verdict is access.Grant.MISS:
            self._miss(peer, "may not upload this phone's files")
        if verdict is not access.Grant.SERVE or view is None:
            return None
        return Upload(request.mac, f"{request.mac}-{request.upload}")

    # -- internals ----------------------------------------------------------------------------

    def _miss(self, peer: Peer, why: str) -> None:
        if self.guard.miss(peer.ip, self.monotonic()):
            log.warning("provisioning: %s banned after repeated misses (last: %s)", peer.ip, why)

    def _known_vendor(self, mac: str) -> str | None:
        view = self.lookup(mac)  # the inventory spells families "Yealink"; routes "yealink"
        return view.vendor.lower() if view is not None and view.vendor else None

    def _resolve(self, path: str, peer: Peer, now: float, token: str = "") -> Result:
        if path.startswith("firmware/"):
            return self._firmware_file(path.removeprefix("firmware/"), peer)
        claimed = ident.from_user_agent(peer.user_agent)
        request = ident.identify(path, claimed, self._known_vendor)
        if request is None:
            self._miss(peer, "unknown name")
            return None
        if request.kind in ("miss", "upload"):
            readable = request.kind == "upload" and request.upload in request.vendor.readback
            return self._readback(request, peer, now) if readable else None
        if request.kind == "firmware":
            model = request.model or (claimed.model if claimed else None)
            image = self.firmware.target(request.vendor.name, model)
            return self._firmware_file(image.filename, peer) if image else None
        if request.kind == "common":
            return self._common(request, claimed, peer, path)
        if request.kind == "phonebook":
            result: Result = self._phonebook(request, peer, path, now)
        else:
            result = self._device(request, claimed, peer, path, now, token)
        return result

    def _firmware_file(self, name: str, peer: Peer) -> File | None:
        found = self.firmware.open_path(name)
        if found is None:
            self._miss(peer, "unknown firmware")
            return None
        return File(name, "application/octet-stream", path=found)

    def _firmware_link(self, vendor: str, model: str | None, reported: str | None,
                       urls: Urls) -> dict[str, str] | None:
        image = self.firmware.target(vendor, model)
        if image is None or not older(reported, image.version):
            return None
        return {"url": f"{urls.http}/firmware/{image.filename}", "version": image.version}

    def _common(self, request: ident.Request, claimed: Identity | None, peer: Peer,
                path: str) -> File:
        vendor = request.vendor
        model = request.model or (claimed.model if claimed and claimed.vendor == vendor.name
                                  else None)
        if request.model:
            self._hint(peer.ip, vendor.name, request.model)
        reported = claimed.firmware if claimed and claimed.vendor == vendor.name else None
        urls = self.urls.seen_from(peer.local_ip)
        ctx = self.renderer.context(
            vendor, self.site.seen_from(peer.local_ip), self.clock(), mac=None, model=model,
            account=Account.off(), prov={"base": urls.base(peer.via), "http_base": urls.http},
            firmware=self._firmware_link(vendor.name, model, reported, urls))
        data = self.renderer.render_shared(request.route.template, ctx)
        # A User-Agent naming a MAC is a claim: noted only where the source agrees.
        if (claimed and claimed.mac and claimed.vendor == vendor.name
                and access.may_note(self._ask(claimed.mac, peer, vendor.http_auth, False))):
            self._sighting(claimed.mac, vendor.name, claimed, peer, path)
        return File(path.rsplit("/", 1)[-1], request.route.content_type, data)

    def _device_allowed(self, mac: str, peer: Peer, now: float) -> bool:
        try:
            rules.mac_address(mac)
        except ValidationError:
            self._miss(peer, "not a device MAC")
            return False
        if not self.guard.device(peer.ip, mac, now):
            self._miss(peer, "asked for too many phones' files")
            return False
        claimed = ident.from_user_agent(peer.user_agent)
        if claimed is not None and claimed.mac is not None and claimed.mac != mac:
            self._miss(peer, "User-Agent names another MAC")
            return False
        return True

    def _ask(self, mac: str, peer: Peer, vendor_auth: bool, enrolled: bool,
             proved: bool | None = None) -> access.Ask:
        """The request as ``access`` decides it: where the peer sits, whether the neighbor
        table binds it to ``mac`` (asked only when it decides), what it proved."""
        where = access.place(peer.ip, self.neighbors.on_link(peer.ip), self.phone_subnets)
        bound = (where is access.Place.ON_LINK and self.neighbor_check
                 and self.neighbors.binds(peer.ip, mac))
        return access.Ask(where, peer.via, bound,
                          peer.auth_mac == mac if proved is None else proved, enrolled,
                          self.neighbor_check, self.http_auth and vendor_auth)

    def _device(self, request: ident.Request, claimed: Identity | None, peer: Peer, path: str,
                now: float, token: str = "") -> Result:
        mac = request.mac
        assert mac is not None
        if not self._device_allowed(mac, peer, now):
            return None
        vendor = request.vendor
        view = self.lookup(mac)
        ask = self._ask(mac, peer, vendor.http_auth, view is not None and view.enrolled)
        if token and not ask.proved and access.grant(replace(ask, proved=True)) is \
                access.Grant.SERVE:
            if self.redeem(mac, token):  # one-time: used up now
                ask = replace(ask, proved=True)
            else:
                self._miss(peer, "wrong or used enrollment URL")
        verdict = access.grant(ask)
        if verdict is access.Grant.MISS:
            self._miss(peer, "may not have this phone's file")
            return None
        if verdict is access.Grant.CHALLENGE:
            return Challenge(mac)
        same = claimed if claimed and claimed.vendor == vendor.name else None
        model = (request.model or (same.model if same else None)
                 or (view.model if view else None) or self._hinted(peer.ip, vendor.name))
        reported = (same.firmware if same else None) or (view.firmware if view else None)
        active = view is not None and view.active
        account = Account.off()
        urls = self.urls.seen_from(peer.local_ip)
        http_base = urls.https if peer.via == "https" and urls.https else urls.http
        prov = {"base": urls.base(peer.via), "http_base": http_base, "path": path}
        admin = ""
        if active and view is not None:
            label = view.extension_name or view.extension or ""
            account = Account(True, label, view.employee_name or label,
                              view.sip_username or "", view.sip_username or "",
                              view.sip_password or "")
            admin = view.admin_password or ""
            if vendor.http_auth and view.prov_password and (self.http_auth or ask.proved):
                prov = {"base": http_base, "http_base": http_base, "path": path,
                        "user": mac, "password": view.prov_password}
        ctx = self.renderer.context(
            vendor, self.site.seen_from(peer.local_ip), self.clock(), mac=mac, model=model,
            account=account, prov=prov, admin_password=admin,
            firmware=self._firmware_link(vendor.name, model, reported, urls))
        data = self.renderer.render(request.route.template, ctx)
        if prov.get("user") and view is not None and not view.enrolled:
            self.enroll(mac)
        if access.may_note(ask):
            self._sighting(mac, vendor.name, same or Identity(vendor.name, model), peer, path)
        return File(path.rsplit("/", 1)[-1], request.route.content_type, data)

    def _hint(self, ip: str, vendor: str, model: str) -> None:
        self._models[ip] = (vendor, model, self.monotonic())
        self._models.move_to_end(ip)
        while len(self._models) > MODEL_HINTS:
            self._models.popitem(last=False)

    def _hinted(self, ip: str, vendor: str) -> str | None:
        """The model ``ip``'s recent common file named, if it was for ``vendor``."""
        hint = self._models.get(ip)
        if hint is None or hint[0] != vendor or self.monotonic() - hint[2] > MODEL_HINT_TTL:
            return None
        return hint[1]

    def _readback(self, request: ident.Request, peer: Peer, now: float) -> Result:
        """A file the phone uploaded, served back to that phone alone (the device rules)."""
        mac = request.mac
        if mac is None or not self._device_allowed(mac, peer, now):
            return None
        view = self.lookup(mac)
        verdict = access.grant(self._ask(mac, peer, request.vendor.http_auth,
                                         view is not None and view.enrolled))
        if verdict is access.Grant.MISS:
            self._miss(peer, "may not have this phone's file")
            return None
        if verdict is access.Grant.CHALLENGE:
            return Challenge(mac)
        data = self.uploaded(mac, f"{mac}-{request.upload}") if view and view.active else None
        return None if data is None else File(f"{mac}-{request.upload}", XML_TYPE, data)

    def _sighting(self, mac: str, vendor: str, claimed: Identity, peer: Peer, path: str) -> None:
        if not self.guard.sighting(peer.ip, mac, self.monotonic()):
            return
        method = "tftp" if peer.via == "tftp" else "http"  # the inventory's method names
        self.note(SightingNote(mac, method, peer.ip, BY_NAME[vendor].label,
                               claimed.model, claimed.firmware, f"{peer.via} {path}"[:500]))

    def _phonebook(self, request: ident.Request, peer: Peer, path: str, now: float) -> Result:
        """The company phonebook of the phone in the path, to a peer that may have that
        phone's own files. It holds no secret of the phone, so the neighbor binding suffices
        on-link even once the phone is enrolled (directory fetchers do not all answer a
        digest challenge); a routed phone proves its credentials. Only a phone carrying an
        active account gets the staff listed; any other gets the file empty, which clears
        what it kept (and is no miss)."""
        mac = request.mac
        if mac is None or not self._device_allowed(mac, peer, now):
            return None
        verdict = access.grant(self._ask(mac, peer, request.vendor.http_auth, False))
        if verdict is access.Grant.MISS:
            self._miss(peer, "may not have this phone's phonebook")
            return None
        if verdict is access.Grant.CHALLENGE:
            return Challenge(mac)
        view = self.lookup(mac)
        listed = self.phonebook() if view is not None and view.active else ()
        data = pb.render(self.renderer, request.vendor, request.route.template,
                         self.site.seen_from(peer.local_ip), self.clock(), mac,
                         view.model if view else None, listed)
        return File(path.rsplit("/", 1)[-1], request.route.content_type, data)
