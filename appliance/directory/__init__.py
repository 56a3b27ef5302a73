"""The directory: employees, extensions, SIP credentials, phones and dismissal, over the store.

Pure domain logic: every rule is enforced here with a clear message, whatever the caller.
"""

from appliance.directory.core import utcnow
from appliance.directory.people import UNSET, PeopleMixin
from appliance.directory.phones import METHODS, PhonesMixin
from appliance.directory.records import AuditEntry, Dismissal, Employee, Extension, Phone, Sighting


class Directory(PeopleMixin, PhonesMixin):
    """The directory over one store, acting as ``actor`` (audited), timed by ``clock``."""


__all__ = [
    "METHODS",
    "UNSET",
    "AuditEntry",
    "Directory",
    "Dismissal",
    "Employee",
    "Extension",
    "Phone",
    "Sighting",
    "utcnow",
]
