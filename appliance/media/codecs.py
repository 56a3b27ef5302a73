"""Codec policy, pure: which codecs an offer may carry on to a connection, and how.

A connection lists the codecs it takes, in its order of preference (G.711 µ-law ``PCMU``,
A-law ``PCMA``, G.722). When the offer shares some of them, rtpengine keeps only those
(``strip: all`` plus ``offer``, which also puts them in the connection's order); when it
shares none, rtpengine transcodes (``mask: all`` keeps the offerer's codecs usable on its side,
``transcode`` adds the connection's). RFC 4733 ``telephone-event`` is kept whenever offered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from appliance.errors import MediaError

# The codecs a connection may name, by their rtpengine (SDP rtpmap) names.
CODECS = ("PCMU", "PCMA", "G722")
DTMF = "telephone-event"
# RFC 3551 static payload types an m= line may list without an rtpmap.
STATIC_PAYLOADS = {0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}
_ALIASES = {"pcmu": "PCMU", "g711u": "PCMU", "ulaw": "PCMU", "pcma": "PCMA", "g711a": "PCMA",
            "alaw": "PCMA", "g722": "G722"}


def codec_name(name: str) -> str:
    """The rtpengine name of a codec a connection may list (``pcmu``, ``G711a``, ``g722``...)."""
    canonical = _ALIASES.get(name.strip().lower().replace(".", "").replace("-", ""))
    if canonical is None:
        raise MediaError(f"unknown codec {name!r} (expected one of {', '.join(CODECS)})")
    return canonical


def policy_codecs(names: Iterable[str]) -> tuple[str, ...]:
    """The codecs of a connection's list the policy acts on, in its order: ``CODECS`` only
    (telephone-event is kept whenever offered anyway; a codec the box cannot transcode,
    such as G.729, is left to the offer as it is)."""
    found: list[str] = []
    for name in names:
        try:
            canonical = codec_name(name)
        except MediaError:
            continue
        if canonical not in found:
            found.append(canonical)
    return tuple(found)


@dataclass(frozen=True)
class CodecOps:
    """rtpengine's ``codec`` dictionary of an offer: each list as rtpengine names it."""

    strip: tuple[str, ...] = ()
    offer: tuple[str, ...] = ()
    transcode: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()

    @property
    def transcodes(self) -> bool:
        """True when rtpengine will add codecs the offerer did not offer."""
        return bool(self.transcode)

    def to_ng(self) -> dict[str, list[str]]:
        """The ng ``codec`` value: only the lists that are not empty."""
        return {key: list(getattr(self, key))
                for key in ("strip", "offer", "transcode", "mask") if getattr(self, key)}

    def flags(self) -> tuple[str, ...]:
        """The same as ng ``flags`` strings (``codec-strip-all``, ``codec-offer-PCMA``...)."""
        return tuple(f"codec-{key}-{codec}" for key, codecs in self.to_ng().items()
                     for codec in codecs)


def sdp_codecs(sdp: str) -> tuple[str, ...]:
    """The codec names of the first audio stream of ``sdp``, in its order; () when none.

    Hostile or broken SDP gives what can be read of it, never an exception.
    """
    formats: list[str] = []
    names: dict[str, str] = {}
    in_audio = seen_audio = False
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if seen_audio:
                break  # only the first audio stream
            parts = line[2:].split()
            in_audio = len(parts) >= 4 and parts[0] == "audio"
            if in_audio:
                seen_audio = True
                formats = [f for f in parts[3:] if f.isdigit() and int(f) < 128]
        elif in_audio and line.startswith("a=rtpmap:"):
            payload, _, encoding = line[len("a=rtpmap:"):].partition(" ")
            name = encoding.split("/", 1)[0].strip()
            if payload.isdigit() and name:
                names[payload] = name
    found = []
    for f in formats:
        codec = names.get(f) or STATIC_PAYLOADS.get(int(f))
        if codec and codec not in found:
            found.append(codec)
    return tuple(found)


def codec_policy(offered: Iterable[str], allowed: Sequence[str],
                 transcode: bool = True) -> CodecOps | None:
    """The codec ops that carry an offer with ``offered`` codecs on to a connection that takes
    ``allowed`` (its preference order); None when they share none and ``transcode`` is off
    (the call is refused with 488). Empty ``allowed``: the offer passes unchanged."""
    wanted = tuple(dict.fromkeys(codec_name(c) for c in allowed))
    if not wanted:
        return CodecOps()
    lowered = {c.lower(): c for c in offered}
    keep_dtmf = (DTMF,) if DTMF in lowered else ()
    shared = tuple(c for c in wanted if c.lower() in lowered)
    if shared:
        return CodecOps(strip=("all",), offer=shared + keep_dtmf)
    if not transcode:
        return None
    return CodecOps(mask=("all",), offer=keep_dtmf, transcode=wanted)


_DIRECTION = re.compile(r"^a=(sendonly|recvonly|inactive|sendrecv)\s*$", re.M)
_AUDIO = re.compile(r"^m=audio ", re.M)
_MEDIA = re.compile(r"^m=", re.M)
_NO_ADDRESS = re.compile(r"^c=IN IP4 0\.0\.0\.0\s*$", re.M)


def sdp_holds(sdp: str) -> bool:
    """Whether an offer puts the other party on hold (RFC 3264 §8.4): its audio stream
    ``sendonly`` or ``inactive`` (media level first, else session level), or the old
    ``c=IN IP4 0.0.0.0`` of RFC 2543."""
    found = _AUDIO.search(sdp)
    if found is None:
        return False
    session, audio = sdp[:found.start()], sdp[found.start():]
    following = _MEDIA.search(audio, 1)
    if following is not None:
        audio = audio[:following.start()]
    direction = _DIRECTION.search(audio) or _DIRECTION.search(session)
    if direction is not None:
        return direction.group(1) in ("sendonly", "inactive")
    return bool(_NO_ADDRESS.search(session) or _NO_ADDRESS.search(audio))
