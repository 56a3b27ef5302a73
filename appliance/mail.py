"""Outgoing e-mail: a voicemail message to its box's address, with the WAV attached.

``Mailer(config)`` over ``[mail]`` (``config.model.MailConfig``). ``send_voicemail`` is
blocking (the caller runs it on a worker thread): it builds an ``EmailMessage`` (a plain-text
body saying who called, when, for how long; the WAV attached as ``audio/wav``), connects to
the relay with ``smtplib`` within ``timeout``, says STARTTLS when configured (the server's
certificate checked against the system's CAs and ``ca_file``), logs in when a user name is
set, and sends. Any failure is one ``MailError`` whose message names the relay and what went
wrong, never the password nor the server's own words.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from appliance.config.model import MailConfig
from appliance.errors import MailError

log = logging.getLogger(__name__)

MAX_ATTACHMENT = 25 * 1024 * 1024  # what common relays accept at most (base64 grows it a third)
_FIELD = 100  # characters of a caller's number or name kept in the subject and body


def _clean(text: str | None, limit: int = _FIELD) -> str:
    """``text`` on one line, printable, at most ``limit`` characters (it may come from a
    caller's SIP headers: never a line break in a mail header)."""
    if not text:
        return ""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(flat.split())[:limit]


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _address(to: str) -> str:
    """``to`` as one bare address; MailError otherwise (never a second recipient)."""
    text = to.strip() if isinstance(to, str) else ""
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or len(text) > 254 or any(
            not c.isprintable() or c.isspace() or c in "<>,;\"()[]\\" for c in text):
        raise MailError("mail: the recipient is not one e-mail address")
    return text


def voicemail_message(sender: str, to: str, *, extension: str, caller: str,
                      caller_name: str | None, received_at: datetime, seconds: float,
                      wav: bytes, zone: tzinfo = UTC) -> EmailMessage:
    """The e-mail for one voicemail message (``wav`` its bytes); ``received_at`` is shown in
    ``zone``."""
    who = _clean(caller) or "an unknown caller"
    name = _clean(caller_name)
    shown = f"{name} ({who})" if name and name != who else who
    box = _clean(extension, 16)
    when = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    local = when.astimezone(zone)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = _address(to)
    message["Subject"] = f"Voicemail for {box} from {shown}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    message.set_content(
        f"You have a new voicemail message at extension {box}.\n\n"
        f"From:     {shown}\n"
        f"Received: {local:%Y-%m-%d %H:%M:%S} ({local.tzname() or 'UTC'})\n"
        f"Length:   {_duration(seconds)}\n\n"
        "The recording is attached. You can also listen to it from your phone.\n")
    stamp = f"{local:%Y%m%d-%H%M%S}"
    message.add_attachment(wav, maintype="audio", subtype="wav",
                           filename=f"voicemail-{box}-{stamp}.wav")
    return message


class Mailer:
    """Sends mail through the ``[mail]`` relay; see the module docstring."""

    def __init__(self, config: MailConfig, *, zone: tzinfo = UTC) -> None:
        """``zone``: the box's local time zone, for the times a person reads."""
        self.config = config
        self.zone = zone

    def enabled(self) -> bool:
        """Whether a relay is configured."""
        return self.config.enabled

    def send_voicemail(self, to: str, *, extension: str, caller: str, caller_name: str | None,
                       received_at: datetime, seconds: float, wav: Path) -> None:
        """Mail one voicemail message with ``wav`` attached; blocking. MailError on any
        failure (mail off, an unreadable or oversized WAV, the relay down or refusing)."""
        if not self.enabled():
            raise MailError("mail: no relay configured ([mail] host)")
        try:
            if wav.stat().st_size > MAX_ATTACHMENT:
                raise MailError(f"mail: the recording is over {MAX_ATTACHMENT >> 20} MiB")
            data = wav.read_bytes()
        except OSError:
            raise MailError("mail: the recording cannot be read") from None
        message = voicemail_message(self.config.from_address, to, extension=extension,
                                    caller=caller, caller_name=caller_name,
                                    received_at=received_at, seconds=seconds, wav=data,
                                    zone=self.zone)
        self.send(message)

    def send(self, message: EmailMessage) -> None:
        """Send ``message`` through the relay; MailError on any failure."""
        cfg = self.config
        relay = f"{cfg.host}:{cfg.port}"
        step = "connecting to"
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
                if cfg.starttls:
                    step = "starting TLS with"
                    smtp.starttls(context=self._tls())
                if cfg.username:
                    step = "logging in to"
                    smtp.login(cfg.username, cfg.password)
                step = "sending through"
                refused = smtp.send_message(message)
        except smtplib.SMTPNotSupportedError:
            wanted = "STARTTLS" if step == "starting TLS with" else "a login"
            raise MailError(f"mail: {relay} does not offer {wanted}") from None
        except smtplib.SMTPAuthenticationError:
            raise MailError(f"mail: {relay} refused the login of {cfg.username!r}") from None
        except smtplib.SMTPRecipientsRefused:
            raise MailError(f"mail: {relay} refused the recipient") from None
        except smtplib.SMTPResponseException as exc:
            # Its code only: the server's own words stay out of the message and the log.
            raise MailError(f"mail: {step} {relay} failed: it answered {exc.smtp_code}") \
                from None
        except ssl.SSLCertVerificationError:
            raise MailError(f"mail: the certificate of {relay} is not trusted (see "
                            "mail.ca_file)") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
            # smtplib turns a timeout waiting for a reply into a disconnection.
            if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
                raise MailError(f"mail: no answer from {relay} within {cfg.timeout:g} s") \
                    from None
            raise MailError(f"mail: {relay} closed the connection while {step} it") from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                type(exc).__name__
            raise MailError(f"mail: {step} {relay} failed: {reason}") from None
        if refused:
            raise MailError(f"mail: {relay} refused the recipient")
        log.info("mail: sent through %s", relay)

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.config.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.config.ca_file))
            except (OSError, ssl.SSLError):
                raise MailError("mail: ca_file cannot be read as PEM certificates") from None
        return context
