"""Missed-call callbacks, decided: whether a missed outside call gets a callback job, when the
next attempt is due, and when a job is over. Pure functions over plain values and ``now``.

A job calls the employee (or queue) the customer missed first and, once one answers, the
customer through the office number's connection; ``attempts`` such calls at most,
``interval`` seconds apart. It is over when the customer is reached, when they call again
(their new call is handled afresh), or when the attempts are used up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.callplan import numbers, queues
from appliance.callplan.inbound import Routing
from appliance.callplan.model import CallState

DELAY = (10, 86_400)  # seconds after the missed call, allowed range
ATTEMPTS = (1, 10)
INTERVAL = (60, 86_400)
STATES = ("pending", "dialling", "done", "dropped", "failed")
OPEN = ("pending", "dialling")


@dataclass(frozen=True)
class CallbackRule:
    """An office number's callbacks: first ``delay`` s after the miss, then every
    ``interval`` s, ``attempts`` calls at most."""

    did: str
    delay: int = 120
    attempts: int = 3
    interval: int = 600


@dataclass(frozen=True)
class Missed:
    """An outside call nobody answered: who called which office number, who it rang first
    (``extension:102`` or ``queue:support``; None when it rang nobody), its Call-ID."""

    customer: str
    did: str
    target: str | None
    call_id: str


@dataclass(frozen=True)
class NewJob:
    """A callback job to store."""

    customer: str
    did: str
    target: str
    max_attempts: int
    interval: int
    due_at: datetime
    missed_call: str


@dataclass(frozen=True)
class Job:
    """A stored callback job."""

    id: int
    customer: str
    did: str
    target: str
    state: str
    attempts: int
    max_attempts: int
    interval: int
    due_at: datetime
    missed_call: str
    outcome: str = ""


def callable_number(from_user: str) -> str | None:
    """The caller's number in E.164 if it can be called back (withheld, anonymous, a name or
    a short service number: None)."""
    return numbers.e164(from_user.strip())


def job_for(missed: Missed, rule: CallbackRule | None, now: datetime) -> NewJob | None:
    """The job a missed call gets: none without a rule for its number, without a number to
    call back, or when it rang nobody (there is nobody to connect the customer to)."""
    customer = callable_number(missed.customer)
    if rule is None or customer is None or missed.target is None:
        return None
    return NewJob(customer, missed.did, missed.target, rule.attempts, rule.interval,
                  now + timedelta(seconds=rule.delay), missed.call_id[:128])


def after_attempt(job: Job, reached: bool, now: datetime) -> tuple[str, datetime]:
    """The job's state and next due time once attempt ``job.attempts`` (counted) ended."""
    if reached:
        return "done", now
    if job.attempts >= job.max_attempts:
        return "failed", now
    return "pending", now + timedelta(seconds=job.interval)


def target_parts(target: str) -> tuple[str, str]:
    """``extension:102`` -> ("extension", "102"); a queue likewise."""
    kind, _, value = target.partition(":")
    return kind, value


def who_to_ring(target: str, routing: Routing, state: CallState) -> tuple[str, ...]:
    """The extensions a callback rings first: the extension that missed the customer if it
    is still assigned to an active employee; a queue's members who may ring now (working,
    not on a call unless the group rings busy members), in the group's order."""
    kind, value = target_parts(target)
    if kind == "extension":
        return (value,) if routing.directory.reachable(value) is not None else ()
    queue = routing.queues.get(value) if kind == "queue" else None
    if queue is None:
        return ()
    return tuple(queues.order(queue, queues.eligible(queue, routing.directory,
                                                     routing.presence, state), state))
