"""The sighting writer: repeats coalesced, a batch in one transaction, a bad one skipped."""

from __future__ import annotations

from appliance.directory import Directory
from appliance.provisioning.inventory import SightingNote, SightingWriter
from appliance.store import Store


def note(mac: str, ip: str = "192.0.2.20", model: str = "SIP-T46U") -> SightingNote:
    return SightingNote(mac, "tftp", ip, "Yealink", model, None, f"tftp {mac}.cfg")


def test_a_batch_is_written_with_its_latest_repeats(store: Store, directory: Directory) -> None:
    writer = SightingWriter(store, quiet=0.5)
    writer.start()
    try:
        writer.note(note("001565000001", model="SIP-T42S"))
        writer.note(note("001565000002", ip="192.0.2.21"))
        writer.note(note("001565000001", ip="192.0.2.22"))  # the later fetch wins
        assert writer.flush(10)
    finally:
        writer.stop()
    one, two = directory.get_phone("001565000001"), directory.get_phone("001565000002")
    assert (one.state, one.ip, one.vendor, one.model) == ("discovered", "192.0.2.22",
                                                          "Yealink", "SIP-T46U")
    assert two.ip == "192.0.2.21"
    assert [s.method for s in one.sightings] == ["tftp"]


def test_a_bad_sighting_is_skipped_alone(store: Store, directory: Directory) -> None:
    writer = SightingWriter(store, quiet=0.5)
    writer.start()
    try:
        writer.note(note("001565000003"))
        writer.note(note("not-a-mac"))
        writer.note(note("001565000004", ip="not-an-ip"))
        writer.note(note("001565000005"))
        assert writer.flush(10)
    finally:
        writer.stop()
    assert {p.mac for p in directory.list_phones()} >= {"001565000003", "001565000005"}
    assert "not-a-mac" not in {p.mac for p in directory.list_phones()}


def test_stop_writes_what_is_queued(store: Store, directory: Directory) -> None:
    writer = SightingWriter(store, quiet=0.5, linger=5.0)
    writer.start()
    writer.note(note("001565000006"))
    writer.stop()
    assert directory.get_phone("001565000006").state == "discovered"
