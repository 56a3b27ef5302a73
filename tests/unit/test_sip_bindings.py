"""Registrar bindings in the store: written in batches, read back, reported for the CLI."""

from __future__ import annotations

import time
from dataclasses import replace

from appliance.routing import bindings
from appliance.routing.registrar import Binding, Change
from appliance.sip.transaction import Peer
from appliance.store import Store


def binding(contact: str, expires_in: float = 600) -> Binding:
    now = time.time()
    return Binding("101", contact, ";+sip.instance=\"<urn:uuid:1>\"", now + expires_in, "c1", 2,
                   Peer("tcp", "192.0.2.10", 40123), "Yealink SIP-T46U", "desk", now)


def test_apply_load_and_report(store: Store) -> None:
    desk, app = binding("sip:101@192.0.2.10:5060"), binding("sip:101@192.0.2.11", 30)
    bindings.apply(store, [Change(desk), Change(app)])
    bindings.apply(store, [Change(replace(desk, cseq=3))])  # a refresh replaces the row
    loaded = sorted(bindings.load_all(store), key=lambda b: b.contact)
    assert [(b.contact, b.cseq, b.source) for b in loaded] == [
        (desk.contact, 3, desk.source), (app.contact, 2, app.source)]
    assert abs(loaded[0].expires_at - desk.expires_at) < 1
    rows = bindings.report(store, "101")
    assert [r["via"] for r in rows] == ["tcp:192.0.2.10:40123"] * 2
    assert bindings.cli_view(store, None, False, "registrations")["registrations"][0].startswith(
        "101 sip:101@192.0.2.10:5060 (desk, tcp:192.0.2.10:40123, ")
    bindings.apply(store, [Change(desk, delete=True)])
    assert [r["contact"] for r in bindings.report(store)] == [app.contact]


def test_expired_rows_are_not_reported(store: Store) -> None:
    bindings.apply(store, [Change(binding("sip:101@192.0.2.12", expires_in=-5))])
    assert bindings.report(store) == [] and len(bindings.load_all(store)) == 1
