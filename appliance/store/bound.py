"""Many directory changes in one transaction: a Store whose every read and write happens on
one connection, each write in a savepoint of its own (so one failed change is undone alone
and the others go on), committed or rolled back as a whole at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from appliance.errors import StoreError
from appliance.store.engine import Store


class BoundStore(Store):
    """A Store bound to one open transaction of ``conn``."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn.engine)
        self.conn = conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """The outer transaction's connection (it sees the changes made so far)."""
        yield self.conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A savepoint: released when the block ends, rolled back alone when it raises."""
        try:
            with self.conn.begin_nested():
                yield self.conn
        except OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    def dispose(self) -> None:
        """Nothing: the owner of the transaction closes it."""


@contextmanager
def one_transaction(store: Store, keep: Callable[[], bool]) -> Iterator[BoundStore]:
    """A BoundStore over a new write transaction of ``store``, committed at the end only
    when ``keep()`` says so (else rolled back: nothing of it was ever written)."""
    writer = store.engine.execution_options(sqlite_begin="IMMEDIATE")
    try:
        with writer.connect() as conn:
            transaction = conn.begin()
            try:
                yield BoundStore(conn)
            except BaseException:
                transaction.rollback()
                raise
            if keep():
                transaction.commit()
            else:
                transaction.rollback()
    except OperationalError as exc:
        raise StoreError(f"database error: {exc.orig}") from exc
