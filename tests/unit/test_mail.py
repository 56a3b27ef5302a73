"""E-mail without a relay: the ``[mail]`` section's checks, the voicemail message's text,
headers and attachment, and the refusals that need no socket."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.config import load
from appliance.config.model import MailConfig
from appliance.errors import ConfigError, MailError
from appliance.mail import Mailer, voicemail_message

ROOT = Path(__file__).resolve().parents[2]
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4
RECEIVED = datetime(2026, 3, 1, 8, 30, 5, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- [mail] -----------------------------------------------------------------------------------

def test_mail_is_off_by_default(tmp_path: Path) -> None:
    assert load(None, {}).mail == MailConfig() and not MailConfig().enabled
    assert load(write(tmp_path, "[mail]\n"), {}).mail == MailConfig()
    assert not Mailer(MailConfig()).enabled()


def test_values_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x", encoding="utf-8")
    cfg = load(write(tmp_path, '[mail]\nhost = "SMTP.Example.com"\nport = 465\n'
                               'starttls = true\nusername = "phones"\npassword = "s3cret!"\n'
                               'from = "phones@example.com"\ntimeout = 5\n'
                               'ca_file = "ca.pem"\n'), {}).mail
    assert cfg == MailConfig(host="smtp.example.com", port=465, starttls=True,
                             username="phones", password="s3cret!",
                             from_address="phones@example.com", timeout=5.0,
                             ca_file=(tmp_path / "ca.pem").resolve())
    assert cfg.enabled and isinstance(cfg.port, int)
    assert "s3cret" not in repr(cfg) and "s3cret" not in repr(load(
        tmp_path / "appliance.toml", {}))


def test_a_login_in_clear_is_allowed_to_a_relay_on_loopback_only(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, '[mail]\nhost = "127.0.0.1"\nport = 25\nstarttls = false\n'
                               'username = "u"\npassword = "p"\nfrom = "a@b.example"\n'), {})
    assert cfg.mail.host == "127.0.0.1" and not cfg.mail.starttls
    plain = load(write(tmp_path, '[mail]\nhost = "relay.lan"\nstarttls = false\n'
                                 'from = "a@b.example"\n'), {})
    assert plain.mail.host == "relay.lan" and not plain.mail.username


@pytest.mark.parametrize(("lines", "says"), [
    ('host = "smtp.example.com"', "mail.from: the sender's address is needed with mail.host"),
    ('host = "smtp.example.com"\nfrom = "not an address"', "mail.from: expected an e-mail"),
    ('host = "smtp.example.com"\nfrom = "a@b"', "mail.from: expected an e-mail"),
    ('host = "bad host!"\nfrom = "a@b.example"', "mail.host: expected a host name"),
    ('host = "-x.example"\nfrom = "a@b.example"', "mail.host: expected a host name"),
    ('host = 5', "mail.host: expected a string"),
    ('port = 0', "mail.port: must be between 1 and 65535"),
    ('port = 70000', "mail.port: must be between"),
    ('port = 25.5', "mail.port: expected a whole number"),
    ('starttls = "yes"', "mail.starttls: expected true or false"),
    ('timeout = 0', "mail.timeout: must be between 1.0 and 600.0"),
    ('ca_file = "missing.pem"', "mail.ca_file: no such file"),
    ('host = "h.example"\nfrom = "a@b.example"\nusername = "u"',
     "mail.password: needed with mail.username"),
    ('host = "h.example"\nfrom = "a@b.example"\npassword = "p"',
     "mail.username: needed with mail.password"),
    ('host = "h.example"\nfrom = "a@b.example"\nusername = "u"\npassword = "p"\n'
     'starttls = false', "mail.starttls: a login without STARTTLS would send the password"),
    ('host = "h.example"\nfrom = "a@b.example"\nusername = "u"\npassword = "p\\nq"',
     "control characters are not allowed"),
    ('sender = "a@b.example"', "unknown config key: mail.sender"),
])
def test_a_bad_value_is_one_line_naming_its_key(tmp_path: Path, lines: str, says: str) -> None:
    path = write(tmp_path, f"[mail]\n{lines}\n")
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    message = str(caught.value)
    assert "\n" not in message and says in message and str(path) in message
    assert "p\\nq" not in message  # a password is never repeated


def test_the_section_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[mail\]: expected a table"):
        load(write(tmp_path, "mail = 5\n"), {})


def test_the_shipped_config_has_mail_off_with_every_key_commented() -> None:
    text = (ROOT / "systemd" / "appliance.toml").read_text(encoding="utf-8")
    section = text.split("[mail]\n", 1)[1].split("\n[", 1)[0]
    keys = re.findall(r"^# (\w+) = ", section, re.M)
    assert keys == ["host", "port", "starttls", "username", "password", "from", "timeout",
                    "ca_file"]
    assert not load(ROOT / "systemd" / "appliance.toml", {}).mail.enabled


# -- the message ------------------------------------------------------------------------------

def test_the_voicemail_message_says_who_when_how_long_and_carries_the_wav() -> None:
    message = voicemail_message("phones@example.com", "an@example.com", extension="101",
                                caller="0912345678", caller_name="Nguyen Van A",
                                received_at=RECEIVED, seconds=75.4, wav=WAV,
                                zone=ZoneInfo("Asia/Ho_Chi_Minh"))
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["From"] == "phones@example.com" and parsed["To"] == "an@example.com"
    assert parsed["Subject"] == "Voicemail for 101 from Nguyen Van A (0912345678)"
    assert parsed["Auto-Submitted"] == "auto-generated" and parsed["Message-ID"]
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "extension 101" in text and "Nguyen Van A (0912345678)" in text
    assert "2026-03-01 15:30:05 (+07)" in text and "1 min 15 s" in text
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_filename() == "voicemail-101-20260301-153005.wav"
    assert attachment.get_content() == WAV


def test_a_caller_cannot_put_a_header_into_the_mail() -> None:
    message = voicemail_message("p@example.com", "an@example.com", extension="101",
                                caller="101\r\nBcc: evil@example.com",
                                caller_name="Eve\nBcc: evil@example.com\x00",
                                received_at=RECEIVED, seconds=3, wav=WAV)
    raw = message.as_bytes()
    assert b"\nBcc:" not in raw and "evil" in str(message["Subject"])
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    anonymous = voicemail_message("p@example.com", "an@example.com", extension="101",
                                  caller="", caller_name=None, received_at=RECEIVED,
                                  seconds=0.2, wav=WAV)
    assert anonymous["Subject"] == "Voicemail for 101 from an unknown caller"


@pytest.mark.parametrize("to", ["", "no-at-sign", "a@b.example, c@d.example",
                                "a@b.example\r\nBcc: x@y.example", "<a@b.example>",
                                "a@localhost"])
def test_the_recipient_must_be_one_address(to: str) -> None:
    with pytest.raises(MailError, match="not one e-mail address"):
        voicemail_message("p@example.com", to, extension="101", caller="1",
                          caller_name=None, received_at=RECEIVED, seconds=1, wav=WAV)


def test_send_refuses_without_a_relay_or_a_readable_recording(tmp_path: Path) -> None:
    kwargs = {"extension": "101", "caller": "102", "caller_name": None,
              "received_at": RECEIVED, "seconds": 3.0}
    with pytest.raises(MailError, match="no relay configured"):
        Mailer(MailConfig()).send_voicemail("an@example.com", wav=tmp_path / "x.wav", **kwargs)
    relay = Mailer(MailConfig(host="127.0.0.1", port=1, from_address="p@example.com"))
    with pytest.raises(MailError, match="the recording cannot be read"):
        relay.send_voicemail("an@example.com", wav=tmp_path / "missing.wav", **kwargs)
