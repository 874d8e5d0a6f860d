"""Engine and sessions. The edge (a request, a job, a CLI command) owns the transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

AFTER_COMMIT = "earful.after_commit"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _register_sqlite_adapters() -> None:
    """Bind None, bytes and bool through registered C-level adapters.

    Python's sqlite3 binds int, float and str directly but sends every other value through
    its adapter lookup, which, when no adapter is registered, probes ``__adapt__`` and
    ``__conform__`` and formats (then discards) an AttributeError for each. A posts row
    holds a dozen such values (NULL labels, the raw bytes, a flag): that was ~14 % of the
    ingest's instructions. These adapters give the same bindings (NULL, BLOB, 0/1) without
    the probe. The registry is process-wide; the results are identical for any caller.
    """
    empty: dict[None, None] = {}
    to_null: Callable[[None], None] = empty.get  # a C callable that returns None for None
    sqlite3.register_adapter(type(None), to_null)
    sqlite3.register_adapter(bytes, bytes)  # the same object for a bytes value
    sqlite3.register_adapter(bool, int)


def scrub_driver_error(error: BaseException) -> None:
    """Cut a PostgreSQL error down to its primary message, in place.

    The server's DETAIL repeats the values of the row ("Failing row contains (…)", "Key
    (email)=(…) already exists"): a post's text, a customer's address. ``hide_parameters``
    does not reach it, and the driver's error is chained under SQLAlchemy's, so a logged
    traceback would print it. SQLite's messages name the constraint only."""
    primary = getattr(getattr(error, "diag", None), "message_primary", None)
    if primary:
        error.args = (primary,)


def _scrub(context: ExceptionContext) -> None:
    error = context.original_exception
    scrub_driver_error(error)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args:  # SQLAlchemy copied the message when wrapping
        kind = f"{type(error).__module__}.{type(error).__name__}"
        wrapped.args = (f"({kind}) {error}",)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine whose errors and logs never carry bound parameters: they hold customers'
    words and addresses, and a database error ends up in logs and tracebacks."""
    if url.startswith("sqlite"):
        _register_sqlite_adapters()
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, hide_parameters=True, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)
    event.listen(engine, "handle_error", _scrub)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once this session's transaction commits (never on a rollback).

    How a request announces a change (a live event) only once it is durable."""
    session.info.setdefault(AFTER_COMMIT, []).append(action)


def run_after_commit(session: Session) -> None:
    for action in session.info.pop(AFTER_COMMIT, []):
        action()


@contextmanager
def unit_of_work(factory: Callable[[], Session]) -> Iterator[Session]:
    """The edge's transaction: commit on success, roll back on error; then the
    after-commit actions run, only if the commit did."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            session.info.pop(AFTER_COMMIT, None)
            raise
        run_after_commit(session)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with session_factory(engine)() as session, session.begin():
        yield session
