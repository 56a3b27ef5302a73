"""One exception tree for the whole appliance.

Every error the appliance raises on purpose derives from ``ApplianceError``;
callers catch the branch they can handle and let the rest reach the CLI or
daemon edge, which prints one line (never to a network peer)::

    ApplianceError
     ├── ConfigError            a config file or value is unusable (names the key)
     ├── StoreError             the database cannot be opened, migrated or written
     │    └── MigrationError    the schema is newer than this software, or a migration failed
     ├── DirectoryError         a directory rule was broken (names the field)
     │    ├── ValidationError   a value has the wrong form (digits, charset, length…)
     │    ├── NotFoundError     the employee, extension or phone does not exist
     │    └── ConflictError     the value is taken, or the state forbids the change
     ├── SipError               the SIP layer
     │    └── SipParseError     bytes that are not a well-formed SIP message
     ├── ProvisioningError      a provisioning file cannot be produced
     ├── MailError              an e-mail could not be sent (the relay refused, was down…)
     └── MediaError             the media plane (rtpengine and its ng protocol)
          ├── MediaProtocolError      bytes that are not bencode/ng, or rtpengine refused
          ├── MediaTimeoutError       rtpengine did not answer within the retry budget
          ├── MediaUnavailableError   no media session to be had now (limit, rtpengine down)
          ├── PromptError             a prompt WAV cannot be made (bad text, espeak-ng, sox)
          └── RecordingError          a call's pcap cannot be read (truncated header, bad magic)
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base of every error the appliance raises on purpose."""


class ConfigError(ApplianceError):
    """A config file or value is unusable; the message names the file or key."""


class StoreError(ApplianceError):
    """The store cannot be opened, migrated or written."""


class MigrationError(StoreError):
    """The schema is newer than this software, or a migration step failed."""


class BackupError(StoreError):
    """A backup cannot be made, or a file cannot be restored (the message says why)."""


class DirectoryError(ApplianceError):
    """A directory rule was broken; ``field`` names the offending input when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ValidationError(DirectoryError):
    """A value has the wrong form."""


class NotFoundError(DirectoryError):
    """The employee, extension or phone does not exist."""


class ConflictError(DirectoryError):
    """The value is already taken, or the current state forbids the change."""


class SipError(ApplianceError):
    """An error of the SIP layer."""


class SipParseError(SipError):
    """Bytes that are not a well-formed SIP message."""


class ProvisioningError(ApplianceError):
    """A provisioning file cannot be produced."""


class MailError(ApplianceError):
    """An e-mail could not be built or sent: the relay is unreachable, refused the login or
    the message, or the attachment cannot be read. The message never holds a secret."""


class MediaError(ApplianceError):
    """An error of the media plane."""


class MediaProtocolError(MediaError):
    """Malformed bencode or ng bytes, or rtpengine answered ``result: error``.

    ``reason`` keeps rtpengine's ``error-reason`` for the log, never for a network peer.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class MediaTimeoutError(MediaError):
    """rtpengine did not answer a command within the retry budget."""


class MediaUnavailableError(MediaError):
    """No media session can be had now: the session limit, rtpengine's load limit, or down."""


class PromptError(MediaError):
    """A prompt WAV cannot be made: refused text or language, a missing or failing tool."""


class RecordingError(MediaError):
    """A call recording's pcap cannot be read: a truncated header, a wrong magic or link type."""
