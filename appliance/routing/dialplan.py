"""The dial plan: what a dialled Request-URI user means, and which permission it needs.

1 to 4 digits: an extension. A memorable name: its extension. A telephone number: "+" or
"00" first is international; "0" then 3, 5, 7, 8 or 9 and 8 or 9 more digits is a mobile
(the Vietnamese plan); any other 5 to 15 digits is local. Permission classes are ordered
internal < local < mobile < international, each including those below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.directory.rules import PERMISSIONS
from appliance.sip.uri import SipUri

_EXTENSION_RE = re.compile(r"[0-9]{1,4}")
_NUMBER_RE = re.compile(r"\+?[0-9]{5,20}")
_MOBILE_RE = re.compile(r"0[35789][0-9]{8,9}")
_SEPARATORS = str.maketrans("", "", "-.() ")


@dataclass(frozen=True)
class Destination:
    """What was dialled: kind "extension", "name", "number" or "unknown", the text, the
    permission class a number needs."""

    kind: str
    target: str
    needs: str = "internal"


def classify(uri: SipUri) -> Destination:
    """The destination of a Request-URI (sip, sips or tel)."""
    user = (uri.user or "").split(";")[0] if uri.scheme == "tel" else (uri.user or "")
    if uri.scheme != "tel" and uri.params.get("user") == "phone":
        user = user.split(";")[0]
    if _EXTENSION_RE.fullmatch(user):
        return Destination("extension", user)
    number = user.translate(_SEPARATORS)
    if _NUMBER_RE.fullmatch(number):
        if number.startswith(("+", "00")):
            return Destination("number", number, "international")
        if _MOBILE_RE.fullmatch(number):
            return Destination("number", number, "mobile")
        return Destination("number", number, "local")
    if user and uri.scheme != "tel":
        return Destination("name", user.lower())
    return Destination("unknown", user)


def permits(permission: str, needs: str) -> bool:
    """Whether an extension of class ``permission`` may call a destination needing ``needs``."""
    order = list(PERMISSIONS)
    return permission in order and order.index(permission) >= order.index(needs)
