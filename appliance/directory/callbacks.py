"""Missed-call callbacks over the store (``store/callback_tables.py``): the rule per office
number (set by admins, audited) and the jobs the call engine keeps (``calls/callbacks.py``),
which survive a restart: a job that was dialling when the daemon stopped is due again."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from appliance.callplan.callbacks import (
    ATTEMPTS,
    DELAY,
    INTERVAL,
    OPEN,
    STATES,
    CallbackRule,
    Job,
    NewJob,
)
from appliance.directory import plan_rules as pr
from appliance.directory.core import DirectoryBase
from appliance.errors import NotFoundError, ValidationError
from appliance.store.callback_tables import callback_rules, callbacks
from appliance.store.callplan_tables import numbers


def _job(row: Row[Any]) -> Job:
    return Job(row.id, row.customer, row.did, row.target, row.state, row.attempts,
               row.max_attempts, row.interval, row.due_at, row.missed_call, row.outcome)


class CallbackDirectory(DirectoryBase):
    """Callback rules and jobs; see the module docstring."""

    # -- rules (admins) ----------------------------------------------------------------------

    def set_rule(self, did: str, *, delay: int | str = 120, attempts: int | str = 3,
                 interval: int | str = 600) -> CallbackRule:
        """Call back the missed callers of office number ``did``."""
        clean = pr.phone_number(did, "did")
        rule = CallbackRule(clean, pr.whole(delay, "delay", *DELAY),
                            pr.whole(attempts, "attempts", *ATTEMPTS),
                            pr.whole(interval, "interval", *INTERVAL))
        now = self.clock()
        with self.store.write() as db:
            if not db.execute(select(numbers.c.did).where(numbers.c.did == clean)).first():
                raise NotFoundError(f"did: {clean} is not an office number", "did")
            db.execute(delete(callback_rules).where(callback_rules.c.did == clean))
            db.execute(insert(callback_rules).values(did=clean, delay=rule.delay,
                                                     attempts=rule.attempts,
                                                     interval=rule.interval))
            self._log(db, "callback.rule_set", clean, {"did": clean, "delay": rule.delay,
                                                       "attempts": rule.attempts,
                                                       "interval": rule.interval}, now)
        return rule

    def remove_rule(self, did: str) -> None:
        """No more callbacks for ``did`` (its open jobs stay and run out)."""
        clean = pr.phone_number(did, "did")
        now = self.clock()
        with self.store.write() as db:
            if not db.execute(delete(callback_rules).where(
                    callback_rules.c.did == clean)).rowcount:
                raise NotFoundError(f"did: {clean} has no callbacks", "did")
            self._log(db, "callback.rule_removed", clean, {"did": clean}, now)

    def rules(self) -> list[CallbackRule]:
        """Every number's rule, by number."""
        with self.store.read() as db:
            return [CallbackRule(r.did, r.delay, r.attempts, r.interval) for r in db.execute(
                select(callback_rules).order_by(callback_rules.c.did))]

    def rule(self, did: str) -> CallbackRule | None:
        """The rule of ``did`` (as stored), or None."""
        with self.store.read() as db:
            r = db.execute(select(callback_rules).where(callback_rules.c.did == did)).first()
        return None if r is None else CallbackRule(r.did, r.delay, r.attempts, r.interval)

    def jobs(self, state: str | None = None, limit: int = 200) -> list[Job]:
        """Jobs, newest first; ``state`` one of ``STATES`` or None for all."""
        query = select(callbacks).order_by(callbacks.c.id.desc()).limit(limit)
        if state is not None:
            if state not in STATES:
                raise ValidationError(f"state: one of {', '.join(STATES)}, got {state!r}",
                                      "state")
            query = query.where(callbacks.c.state == state)
        with self.store.read() as db:
            return [_job(r) for r in db.execute(query)]

    def drop(self, job_id: int | str) -> Job:
        """An admin drops an open job."""
        key = pr.whole(job_id, "id", 1, 2**31 - 1)
        now = self.clock()
        with self.store.write() as db:
            row = db.execute(select(callbacks).where(callbacks.c.id == key)).first()
            if row is None or row.state not in OPEN:
                raise NotFoundError(f"id: no open callback {key}", "id")
            db.execute(update(callbacks).where(callbacks.c.id == key).values(
                state="dropped", outcome="dropped by an admin", updated_at=now))
            self._log(db, "callback.dropped", str(key), {"id": key,
                                                        "customer": row.customer}, now)
            return replace(_job(row), state="dropped", outcome="dropped by an admin")

    # -- jobs (the call engine) ---------------------------------------------------------------

    def add_job(self, new: NewJob) -> Job:
        """Store a job; an open one for the same customer is dropped (one job per customer)."""
        now = self.clock()
        with self.store.write() as db:
            self._drop_open(db, new.customer, "a newer missed call", now)
            key = db.execute(insert(callbacks).values(
                customer=new.customer, did=new.did, target=new.target, state="pending",
                attempts=0, max_attempts=new.max_attempts, interval=new.interval,
                due_at=new.due_at, created_at=now, updated_at=now,
                missed_call=new.missed_call, outcome="")).inserted_primary_key
            assert key is not None
            return Job(int(key[0]), new.customer, new.did, new.target, "pending", 0,
                       new.max_attempts, new.interval, new.due_at, new.missed_call)

    def drop_for_customer(self, customer: str, why: str, before: datetime) -> int:
        """The customer called again at ``before``: their pending jobs made before then are
        dropped (how many; a job their new call made stays)."""
        with self.store.write() as db:
            return int(db.execute(update(callbacks).where(
                callbacks.c.customer == customer, callbacks.c.state == "pending",
                callbacks.c.created_at < before).values(
                state="dropped", outcome=why[:80], updated_at=self.clock())).rowcount)

    @staticmethod
    def _drop_open(db: Any, customer: str, why: str, now: datetime) -> int:
        return int(db.execute(update(callbacks).where(
            callbacks.c.customer == customer, callbacks.c.state.in_(OPEN)).values(
            state="dropped", outcome=why[:80], updated_at=now)).rowcount)

    def take_due(self, limit: int = 4) -> list[Job]:
        """Up to ``limit`` pending jobs due now, marked dialling with the attempt counted."""
        now = self.clock()
        with self.store.write() as db:
            rows = list(db.execute(select(callbacks).where(
                callbacks.c.state == "pending", callbacks.c.due_at <= now)
                .order_by(callbacks.c.due_at, callbacks.c.id).limit(limit)))
            taken = []
            for row in rows:
                db.execute(update(callbacks).where(callbacks.c.id == row.id).values(
                    state="dialling", attempts=row.attempts + 1, updated_at=now))
                taken.append(replace(_job(row), state="dialling", attempts=row.attempts + 1))
            return taken

    def finish(self, job_id: int, state: str, due_at: datetime, outcome: str) -> None:
        """An attempt ended: the job's next state and due time, and what happened."""
        with self.store.write() as db:
            db.execute(update(callbacks).where(
                callbacks.c.id == job_id, callbacks.c.state == "dialling").values(
                state=state, due_at=due_at, outcome=outcome[:80], updated_at=self.clock()))

    def recover(self) -> int:
        """At start: jobs left dialling by a stop are due again (how many)."""
        now = self.clock()
        with self.store.write() as db:
            return int(db.execute(update(callbacks).where(callbacks.c.state == "dialling")
                                  .values(state="pending", due_at=now, updated_at=now,
                                          outcome="interrupted by a restart")).rowcount)
