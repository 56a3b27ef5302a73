"""Calls out: permission classes with Vietnamese numbers, emergency from an internal
extension, prefix selection, who may use a connection, call limits, number formats."""

from __future__ import annotations

from dataclasses import replace

import pytest

from appliance.callplan import outbound
from appliance.callplan.model import Connection, Server
from appliance.callplan.outbound import Caller, OutboundRoute, Refusal

VNPT = Connection(id=1, name="vnpt", kind="register", servers=(Server("sip.vnpt.test"),),
                  username="u", password="trunk-secret", dids=("+842838123456",),
                  number_format="intl_digits", default=True)
VIETTEL = Connection(id=2, name="viettel", kind="ip", servers=(Server("10.0.0.1"),),
                     allowed_sources=("10.0.0.0/29",), dids=("+842439999999",),
                     caller_id="+842439990000", number_format="national", prefix="*123*",
                     allowed_groups=frozenset({"sales"}))
PBX = Connection(id=3, name="hq-pbx", kind="ip", servers=(Server("10.1.0.1", 5080, "tcp"),),
                 number_format="e164_plus", prefix="802", allowed_extensions=frozenset({"105"}),
                 max_calls=2)
ALL = (VNPT, VIETTEL, PBX)


def route(caller: Caller, text: str, connections: tuple[Connection, ...] = ALL,
          **kw: dict[int, int]) -> OutboundRoute:
    result = outbound.plan(caller, text, connections, **kw)  # type: ignore[arg-type]
    assert isinstance(result, OutboundRoute), result
    return result


def refusal(caller: Caller, text: str, connections: tuple[Connection, ...] = ALL,
            **kw: dict[int, int]) -> Refusal:
    result = outbound.plan(caller, text, connections, **kw)  # type: ignore[arg-type]
    assert isinstance(result, Refusal), result
    return result


@pytest.mark.parametrize(("permission", "text", "allowed"), [
    ("internal", "02838123456", False),
    ("local", "02838123456", True),
    ("local", "18001091", True),
    ("local", "0912345678", False),
    ("mobile", "0912345678", True),
    ("mobile", "+84912345678", True),  # a Vietnamese mobile in E.164 is not international
    ("mobile", "+14155550123", False),
    ("mobile", "00442079460000", False),
    ("mobile", "1900123456", False),  # premium numbers need the top class
    ("international", "+14155550123", True),
    ("international", "1900123456", True),
])
def test_permission_class_is_checked_against_the_number(permission: str, text: str,
                                                        allowed: bool) -> None:
    caller = Caller("101", permission)  # type: ignore[arg-type]
    result = outbound.plan(caller, text, ALL)
    if allowed:
        assert isinstance(result, OutboundRoute) and result.connection is VNPT
    else:
        assert isinstance(result, Refusal)
        assert (result.status, result.reason, result.phrase) == (
            403, "not_permitted", "Call Not Permitted")


@pytest.mark.parametrize("text", ["113", "114", "115", "112", "911"])
def test_emergency_goes_out_from_an_internal_extension_through_the_default(text: str) -> None:
    got = route(Caller("101", "internal"), text)
    assert got.connection is VNPT and got.number == text and got.dialled.emergency
    # ... whatever prefix was dialled, whoever may use the connections, however busy
    got = route(Caller("101", "internal"), "*123*" + text)
    assert got.connection is VNPT
    busy = replace(VNPT, max_calls=1, allowed_extensions=frozenset({"9"}))
    assert route(Caller("101", "internal"), text, (busy,), in_use={1: 1}).connection is busy


def test_emergency_without_a_default_connection_is_refused_as_no_connection() -> None:
    assert refusal(Caller("101", "internal"), "113", (VIETTEL,)).reason == "no_connection"


def test_no_connection_at_all() -> None:
    got = refusal(Caller("101", "international"), "0912345678", ())
    assert (got.status, got.phrase, got.reason) == (403, "No Trunk Configured", "no_connection")


def test_the_default_connection_writes_the_number_and_presents_the_office_number() -> None:
    got = route(Caller("101", "mobile"), "0912 345 678")
    assert (got.connection, got.number, got.caller_id) == (VNPT, "84912345678", "842838123456")


def test_a_prefix_chooses_its_connection_and_is_stripped() -> None:
    got = route(Caller("101", "mobile", "sales"), "*123*0912345678")
    assert (got.connection, got.number, got.caller_id) == (VIETTEL, "0912345678", "02439990000")
    got = route(Caller("105", "international"), "80284912345678")
    assert (got.connection, got.number, got.caller_id) == (PBX, "+84912345678", None)


def test_a_prefix_not_followed_by_a_number_is_the_number_itself() -> None:
    # 80212345 is no prefix-and-number (12345 is not a number) but a subscriber number.
    got = route(Caller("101", "local"), "80212345")
    assert got.connection is VNPT and got.number == "80212345"


def test_a_caller_not_allowed_to_use_the_chosen_connection_is_refused() -> None:
    got = refusal(Caller("101", "international", "support"), "*123*0912345678")
    assert (got.status, got.reason, got.phrase) == (
        403, "connection_not_allowed", "Connection Not Allowed")
    assert refusal(Caller("106", "international"), "8020912345678").reason == (
        "connection_not_allowed")


def test_permission_is_checked_before_the_connection() -> None:
    got = refusal(Caller("105", "local"), "8020912345678")
    assert got.reason == "not_permitted"


def test_a_caller_kept_off_the_default_goes_through_one_they_may_use() -> None:
    only_sales = replace(VNPT, allowed_groups=frozenset({"sales"}))
    got = route(Caller("105", "mobile"), "0912345678", (only_sales, VIETTEL, PBX))
    assert got.connection is PBX
    got = refusal(Caller("107", "mobile"), "0912345678", (only_sales, VIETTEL, PBX))
    assert got.reason == "connection_not_allowed"


def test_without_a_default_the_first_usable_connection() -> None:
    assert route(Caller("105", "mobile"), "0912345678", (VIETTEL, PBX)).connection is PBX


def test_a_connection_at_its_call_limit_is_busy() -> None:
    caller = Caller("105", "mobile")
    assert route(caller, "8020912345678", in_use={3: 1}).connection is PBX
    got = refusal(caller, "8020912345678", in_use={3: 2})
    assert (got.status, got.reason) == (503, "connection_busy")


@pytest.mark.parametrize("text", ["", "hello", "0912", "09123456789", "*123*"])
def test_what_is_not_a_number_is_refused(text: str) -> None:
    got = refusal(Caller("101", "international"), text)
    assert (got.status, got.reason) == (484, "not_a_number")


def test_the_password_is_never_in_the_repr() -> None:
    assert "trunk-secret" not in repr(VNPT) and "trunk-secret" not in repr(route(
        Caller("101", "mobile"), "0912345678"))
