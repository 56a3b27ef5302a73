"""What a call recorded for a voicemail box becomes (``calls/voicemail_store.py``), with a
real store and the real converter process: a message with sound kept (WAV, row, the
event for the phones' lamps) and mailed when the box has an address; one too short or
silent dropped with its WAV, nothing kept; a greeting recorded by phone set as the box's
own; rtpengine's pcaps removed in every case; a mail failure leaves the message kept."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from appliance.calls.voicemail import Taken
from appliance.calls.voicemail_store import StoreMailboxes
from appliance.directory import Directory
from appliance.directory.voicemail import VoicemailDirectory
from appliance.errors import MailError
from appliance.media.recording import PCMA
from appliance.store import Store
from appliance.store.tables import events
from appliance.workers import Workers
from tests.unit.test_media_recording import call, stream

PORT = 30010


class FakeMailer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str, float, bytes]] = []
        self.fail = fail

    def enabled(self) -> bool:
        return True

    def send_voicemail(self, to: str, *, extension: str, caller: str, caller_name: str | None,
                       received_at: datetime, seconds: float, wav: Path) -> None:
        if self.fail:
            raise MailError("mail: the relay 127.0.0.1:25 refused the message")
        self.sent.append((to, extension, seconds, wav.read_bytes()))


@pytest.fixture
def employee(store: Store) -> int:
    directory = Directory(store, actor="test")
    person = directory.add_employee("An")
    directory.add_extension("102")
    directory.assign_extension("102", person.id)
    return person.id


def taken(tmp_path: Path, employee: int, packets: int, freq: float = 440,
          kind: str = "message") -> Taken:
    pcaps = tmp_path / "pcaps"
    pcaps.mkdir(exist_ok=True)
    pcap = pcaps / f"call-{packets}-{freq}.pcap"
    pcap.write_bytes(call(stream(PORT, PCMA, freq, 100.0, packets=packets)))
    return Taken(kind, f"ref{packets}", (pcap,), PORT, employee, "102", "0909123456", "Khach")


def boxes(store: Store, tmp_path: Path, mailer: FakeMailer | None = None) -> StoreMailboxes:
    workers = Workers("test", 1)
    return StoreMailboxes(store, workers, tmp_path / "voicemail", workers, mailer)


def test_a_message_with_sound_is_kept_announced_and_mailed(store: Store, tmp_path: Path,
                                                           employee: int) -> None:
    VoicemailDirectory(store).set_box(employee, email="an@office.test")
    mailer = FakeMailer()
    made = taken(tmp_path, employee, 200)  # 4 s of 440 Hz
    path = boxes(store, tmp_path, mailer).write(made)
    assert path is not None and path.is_file() and not made.files[0].exists()
    message, = VoicemailDirectory(store).messages(employee)
    assert (message.caller, message.caller_name, message.call_ref) == (
        "0909123456", "Khach", "ref200")
    assert abs(message.seconds - 4.0) < 0.1 and message.path.startswith(f"{employee}/")
    with store.read() as db:
        kinds = db.execute(select(events.c.kind)).scalars().all()
    assert "voicemail.changed" in kinds
    (to, extension, _seconds, data), = mailer.sent
    assert (to, extension) == ("an@office.test", "102") and data == path.read_bytes()


def test_too_short_or_silent_messages_are_dropped(store: Store, tmp_path: Path,
                                                  employee: int) -> None:
    writer = boxes(store, tmp_path, FakeMailer())
    short = taken(tmp_path, employee, 50)  # 1 s
    silent = taken(tmp_path, employee, 200, freq=0)
    assert writer.write(short) is None and writer.write(silent) is None
    assert VoicemailDirectory(store).messages(employee) == []
    assert not list((tmp_path / "voicemail").rglob("*.wav"))
    assert not short.files[0].exists() and not silent.files[0].exists()


def test_a_greeting_recorded_by_phone_becomes_the_boxs_own(store: Store, tmp_path: Path,
                                                          employee: int) -> None:
    path = boxes(store, tmp_path).write(taken(tmp_path, employee, 100, kind="greeting"))
    assert path == tmp_path / "voicemail" / str(employee) / "greeting.wav"
    box = VoicemailDirectory(store).box(employee)
    assert box.greeting == f"{employee}/greeting.wav"
    assert boxes(store, tmp_path).greeting_file(box) == path


def test_a_mail_failure_keeps_the_message(store: Store, tmp_path: Path, employee: int) -> None:
    VoicemailDirectory(store).set_box(employee, email="an@office.test")
    assert boxes(store, tmp_path, FakeMailer(fail=True)).write(
        taken(tmp_path, employee, 200)) is not None
    assert len(VoicemailDirectory(store).messages(employee)) == 1


def test_nothing_recorded_keeps_nothing(store: Store, tmp_path: Path, employee: int) -> None:
    empty = Taken("message", "ref", (), PORT, employee, "102")
    assert boxes(store, tmp_path).write(empty) is None
    no_port = Taken("message", "ref", taken(tmp_path, employee, 200).files, None, employee,
                    "102")
    assert boxes(store, tmp_path).write(no_port) is None
