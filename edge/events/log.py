"""The event log: a SQLite outbox that every reporter reads from its own cursor.

An event is written once (WAL journal, ``synchronous=FULL``: :meth:`EventLog.append` returns
only when the event is on disk), before anything slower: a row written ``pending`` waits there
for its images, and reporters read past it only once it is finished. Each reporter ("sink")
keeps a cursor, the id of the last event it delivered, in the same database, so delivery resumes
where it stopped after a crash, a reboot or an outage; its health (last error, failing since,
stopped) is stored beside it so that ``doctor``, running in another process, can show it.

Example::

    log = EventLog(state_dir / "events.sqlite3")
    log.append(event)                   # event.id is set
    for e in log.after(log.cursor("mqtt")):
        deliver(e)
        log.advance("mqtt", e.id)
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.event import Event
from edge.events.errors import EventLogError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    camera TEXT NOT NULL,
    start_time REAL NOT NULL,
    end_time REAL NOT NULL,
    verdict TEXT NOT NULL,
    label TEXT NOT NULL,
    score REAL NOT NULL,
    body TEXT NOT NULL,
    pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (start_time);
CREATE TABLE IF NOT EXISTS sinks (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    delivered_at REAL,
    last_error TEXT,
    failing_since REAL,
    stopped_reason TEXT,
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL
);
"""

_UPDATE_CURSOR = "ALTER TABLE sinks ADD COLUMN update_cursor INTEGER NOT NULL DEFAULT 0"

# After the column is there (a log from before it gets it at open): pending rows by id.
_PENDING_INDEX = "CREATE INDEX IF NOT EXISTS events_pending ON events (id) WHERE pending = 1"
_NO_ID = 2**63 - 1

_EVENT_FIELDS = {f.name for f in dataclasses.fields(Event)}


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """One reporter's delivery state, as ``doctor`` shows it.

    ``backlog`` counts events not yet delivered; ``failing_since`` (Unix seconds) is set while
    deliveries fail and cleared by the next success; ``stopped_reason`` is set when the reporter
    gave up for good (bad credentials) and stays until it is restarted.
    """

    name: str
    cursor: int
    backlog: int
    delivered_at: float | None
    last_error: str | None
    failing_since: float | None
    stopped_reason: str | None

    @property
    def healthy(self) -> bool:
        """Neither failing nor stopped."""
        return self.failing_since is None and self.stopped_reason is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``healthy``)."""
        return {**dataclasses.asdict(self), "healthy": self.healthy}


def _to_row(event: Event) -> tuple[Any, ...]:
    body = event.to_dict()
    body.pop("id", None)
    body.pop("time", None)
    return (event.camera, float(event.start_time), float(event.end_time), str(event.verdict),
            str(event.label), float(event.score), json.dumps(body, default=_json_default))


def _json_default(value: object) -> object:
    # NumPy scalars and enums reach events from the classifier; store their plain value.
    for attr in ("item", "value"):
        if hasattr(value, attr):
            got = getattr(value, attr)
            return got() if callable(got) else got
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(col[1] == column for col in db.execute(f"PRAGMA table_info({table})"))


def _has_pending(db: sqlite3.Connection) -> bool:
    return _has_column(db, "events", "pending")


def _from_row(event_id: int, body: str) -> Event:
    data = {k: v for k, v in json.loads(body).items() if k in _EVENT_FIELDS}
    return Event(**{**data, "id": event_id})


class EventLog:
    """The SQLite event log with one delivery cursor per sink. Thread-safe; close() is idempotent.

    Several processes may open the same file (the appliance writes, ``tensorchicken events``
    and ``doctor`` read); ``readonly=True`` never creates or changes anything.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._known: set[str] = set()
        self._readonly = readonly
        self._pending_rows = False  # a log from before rows could wait has no such column
        self._db = self._connect(readonly)

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        try:
            if readonly:
                if not self.path.is_file():
                    raise EventLogError(f"{self.path}: no event log here")
                db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                     check_same_thread=False, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA busy_timeout = 10000")
            if not readonly:
                db.execute("PRAGMA journal_mode = WAL")
                # FULL: the WAL is fsynced at every commit, so append() is durable on return.
                db.execute("PRAGMA synchronous = FULL")
                db.executescript(_SCHEMA)
                if not _has_pending(db):
                    db.execute("ALTER TABLE events ADD COLUMN pending INTEGER NOT NULL DEFAULT 0")
                db.execute(_PENDING_INDEX)
                if not _has_column(db, "sinks", "update_cursor"):
                    db.execute(_UPDATE_CURSOR)
            self._pending_rows = _has_pending(db)
            return db
        except sqlite3.Error as exc:
            raise EventLogError(f"{self.path}: cannot open the event log: {exc}") from exc

    @contextmanager
    def _sql(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise EventLogError(f"{self.path}: cannot {what}: {exc}") from exc

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (it must not block) after each append in this process."""
        with self._lock:
            self._listeners.append(callback)

    def append(self, event: Event, *, pending: bool = False) -> int:
        """Write ``event`` once; durable when this returns. Sets and returns ``event.id``.

        ``pending``: more is coming (its images, late answers): the row is kept, but reporters
        see it, and every row after it, only once :meth:`finish` (or :meth:`release_pending`
        at the next start) says it is complete."""
        with self._sql("write an event") as db:
            cur = db.execute(
                "INSERT INTO events (camera, start_time, end_time, verdict, label, score, body,"
                " pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*_to_row(event), int(pending)))
            event.id = int(cur.lastrowid or 0)
        if not pending:
            self._notify()
        return event.id

    def finish(self, event: Event) -> None:
        """Store what a pending row was waiting for (``event`` as it is now); reporters see it."""
        with self._sql("complete an event") as db:
            db.execute("UPDATE events SET body = ?, pending = 0 WHERE id = ?",
                       (_to_row(event)[-1], event.id))
        self._notify()

    def update(self, event: Event) -> None:
        """Store what became known of a written event later (its clip, its outcome), and queue
        an update message for the reporters (:meth:`updates_after`), both in one transaction:
        durable when this returns."""
        if event.id is None:
            raise ValueError("only a written event (with an id) can be updated")
        with self._sql("update an event") as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("UPDATE events SET body = ? WHERE id = ?",
                           (_to_row(event)[-1], event.id))
                db.execute("INSERT INTO updates (event_id) VALUES (?)", (event.id,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        self._notify()

    def updates_after(self, sink: str, limit: int = 100) -> builtins.list[tuple[int, Event]]:
        """``(seq, event as it is now)`` for each update ``sink`` has not delivered, oldest
        first. An update of an event the sink has not delivered yet comes too: the event will
        carry the change when it goes, so the sink may skip the update (at least once)."""
        self._register(sink)
        with self._sql("read updates") as db:
            rows = db.execute(
                "SELECT u.seq, e.id, e.body FROM updates u JOIN events e ON e.id = u.event_id "
                "WHERE u.seq > (SELECT update_cursor FROM sinks WHERE name = ?) "
                "ORDER BY u.seq LIMIT ?", (sink, limit)).fetchall()
        return [(int(seq), _from_row(event_id, body)) for seq, event_id, body in rows]

    def advance_updates(self, sink: str, seq: int) -> None:
        """Record that ``sink`` delivered every update up to ``seq``."""
        self._register(sink)
        with self._sql("move an update cursor") as db:
            db.execute("UPDATE sinks SET update_cursor = MAX(update_cursor, ?) WHERE name = ?",
                       (seq, sink))

    def release_pending(self) -> int:
        """Let reporters see rows a stopped writer left pending (kept without what they
        waited for); how many. Only the one writer calls this, at its start."""
        with self._sql("release pending events") as db:
            count = db.execute("UPDATE events SET pending = 0 WHERE pending = 1").rowcount
        if count:
            self._notify()
        return int(count)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for notify in listeners:
            notify()

    def get(self, event_id: int) -> Event | None:
        """The event with this id, or None."""
        with self._sql("read an event") as db:
            row = db.execute("SELECT id, body FROM events WHERE id = ?", (event_id,)).fetchone()
        return _from_row(*row) if row else None

    def after(self, event_id: int, limit: int = 100) -> list[Event]:
        """Up to ``limit`` complete events with an id above ``event_id``, oldest first; they stop
        before the first pending row, so a reporter never passes an event still being written."""
        query = "SELECT id, body FROM events WHERE id > ? ORDER BY id LIMIT ?"
        if self._pending_rows:
            query = ("SELECT id, body FROM events WHERE id > ? AND id < (SELECT COALESCE("
                     f"MIN(id), {_NO_ID}) FROM events WHERE pending = 1) ORDER BY id LIMIT ?")
        with self._sql("read events") as db:
            rows = db.execute(query, (event_id, limit)).fetchall()
        return [_from_row(*row) for row in rows]

    def list(self, since: float | None = None, limit: int | None = None) -> list[Event]:
        """Events that started at or after ``since`` (Unix seconds), oldest first.

        With ``limit``, the newest ``limit`` of them (still oldest first).
        """
        query = "SELECT id, body FROM events WHERE start_time >= ? ORDER BY id DESC"
        params: tuple[Any, ...] = (since if since is not None else float("-inf"),)
        if limit is not None:
            query += " LIMIT ?"
            params += (limit,)
        with self._sql("read events") as db:
            rows = db.execute(query, params).fetchall()
        return [_from_row(*row) for row in reversed(rows)]

    def find(self, *, camera: str | None = None, verdict: str | None = None,
             start: float | None = None, end: float | None = None, limit: int = 50,
             offset: int = 0) -> builtins.list[Event]:
        """Events matching every filter given (``start <= start_time < end``), newest first."""
        where, params = ["1"], []
        for clause, value in (("camera = ?", camera), ("verdict = ?", verdict),
                              ("start_time >= ?", start), ("start_time < ?", end)):
            if value is not None:
                where.append(clause)
                params.append(value)
        query = (f"SELECT id, body FROM events WHERE {' AND '.join(where)} "
                 "ORDER BY start_time DESC, id DESC LIMIT ? OFFSET ?")
        with self._sql("read events") as db:
            rows = db.execute(query, (*params, limit, offset)).fetchall()
        return [_from_row(*row) for row in rows]

    def cameras(self) -> builtins.list[str]:
        """Every camera that has an event, by name."""
        with self._sql("read cameras") as db:
            rows = db.execute("SELECT DISTINCT camera FROM events ORDER BY camera").fetchall()
        return [str(row[0]) for row in rows]

    def per_day(self, since: float) -> builtins.list[tuple[str, str, int]]:
        """(local date ``YYYY-MM-DD``, verdict, events) for events since ``since``, by date."""
        with self._sql("count events") as db:
            rows = db.execute(
                "SELECT date(start_time, 'unixepoch', 'localtime') AS day, verdict, COUNT(*) "
                "FROM events WHERE start_time >= ? GROUP BY day, verdict ORDER BY day",
                (since,)).fetchall()
        return [(str(d), str(v), int(n)) for d, v, n in rows]

    def cursor(self, sink: str) -> int:
        """The id of the last event ``sink`` delivered.

        A sink seen for the first time starts at the end of the log: a reporter enabled later
        does not replay (or tweet) the whole history.
        """
        self._register(sink)
        with self._sql("read a cursor") as db:
            return int(db.execute("SELECT cursor FROM sinks WHERE name = ?",
                                  (sink,)).fetchone()[0])

    def _register(self, sink: str) -> None:
        if sink in self._known or self._readonly:  # a reader (doctor) registers nothing
            return
        with self._sql("register a sink") as db:
            # A new sink starts at the end of the updates too: the events it will get carry them.
            db.execute("INSERT OR IGNORE INTO sinks (name, cursor, update_cursor) SELECT ?, "
                       "(SELECT COALESCE(MAX(id), 0) FROM events), "
                       "(SELECT COALESCE(MAX(seq), 0) FROM updates)", (sink,))
            self._known.add(sink)

    def advance(self, sink: str, event_id: int) -> None:
        """Record that ``sink`` delivered everything up to ``event_id``; clears its failure."""
        self._register(sink)
        with self._sql("move a cursor") as db:
            db.execute("UPDATE sinks SET cursor = MAX(cursor, ?), delivered_at = ?, "
                       "last_error = NULL, failing_since = NULL WHERE name = ?",
                       (event_id, time.time(), sink))

    def report_failure(self, sink: str, error: str, when: float) -> None:
        """Record a failed delivery; ``failing_since`` keeps the first failure's time."""
        self._register(sink)
        with self._sql("record a failure") as db:
            db.execute("UPDATE sinks SET last_error = ?, "
                       "failing_since = COALESCE(failing_since, ?) WHERE name = ?",
                       (error, when, sink))

    def report_ok(self, sink: str) -> None:
        """Clear a sink's failure without moving its cursor (it works again, nothing to send)."""
        self._register(sink)
        with self._sql("record a recovery") as db:
            db.execute("UPDATE sinks SET last_error = NULL, failing_since = NULL "
                       "WHERE name = ?", (sink,))

    def report_stopped(self, sink: str, reason: str | None) -> None:
        """Mark a sink as stopped for good (``reason``), or clear that with None."""
        self._register(sink)
        with self._sql("record a stop") as db:
            db.execute("UPDATE sinks SET stopped_reason = ? WHERE name = ?", (reason, sink))

    def sink_state(self, sink: str) -> dict[str, Any]:
        """A sink's own small persistent state (posting history, digest time)."""
        self._register(sink)
        with self._sql("read a sink's state") as db:
            row = db.execute("SELECT state FROM sinks WHERE name = ?", (sink,)).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def set_sink_state(self, sink: str, state: dict[str, Any]) -> None:
        """Replace a sink's persistent state (JSON-ready values only)."""
        self._register(sink)
        with self._sql("write a sink's state") as db:
            db.execute("UPDATE sinks SET state = ? WHERE name = ?", (json.dumps(state), sink))

    def sink_status(self) -> builtins.list[SinkStatus]:
        """Every sink's cursor, backlog and health, by name."""
        with self._sql("read sinks") as db:
            rows = db.execute(
                "SELECT name, cursor, (SELECT COUNT(*) FROM events WHERE id > sinks.cursor), "
                "delivered_at, last_error, failing_since, stopped_reason "
                "FROM sinks ORDER BY name").fetchall()
        return [SinkStatus(*row) for row in rows]

    def close(self) -> None:
        """Close the database; idempotent."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
