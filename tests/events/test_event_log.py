"""The SQLite event log: written once, durable on return, one cursor per sink."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.event import Event
from edge.events import EventLog, EventLogError

CHILD = Path(__file__).with_name("events_child.py")


def _event(i: int, start: float = 1000.0, verdict: str = "chicken") -> Event:
    return Event(camera="coop", start_time=start + i, end_time=start + i + 0.5, verdict=verdict,
                 label="hen", score=0.8, scores={"primary": {"score": 0.8, "verdict": verdict}},
                 deterrents=["siren", "light"], decision={"reason": "confirmed"},
                 latency_ms={"inference": 11.0, "total": 95.5}, snapshot="/x/snapshot.jpg",
                 crops={"primary": "/x/crop_primary.png"})


@pytest.fixture()
def log(state_dir: Path):  # type: ignore[no-untyped-def]
    with EventLog(state_dir / "events.sqlite3") as opened:
        yield opened


def test_append_sets_ids_and_round_trips_every_field(log: EventLog) -> None:
    first, second = _event(0), _event(1, verdict="predator")
    assert log.append(first) == 1 and first.id == 1
    assert log.append(second) == 2
    assert log.after(0) == [first, second]
    assert log.get(2) == second and log.get(3) is None


def test_numpy_values_are_stored_as_plain_numbers(log: EventLog) -> None:
    event = _event(0)
    event.score = np.float32(0.25)  # type: ignore[assignment]
    event.latency_ms = {"total": np.float64(12.5)}  # type: ignore[dict-item]
    log.append(event)
    stored = log.get(1)
    assert stored is not None and stored.score == 0.25 and stored.latency_ms == {"total": 12.5}


def test_the_file_is_wal_with_full_sync(log: EventLog) -> None:
    with sqlite3.connect(log.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_after_list_since_and_limit(log: EventLog) -> None:
    for i in range(10):
        log.append(_event(i))
    assert [e.id for e in log.after(3, limit=4)] == [4, 5, 6, 7]
    assert [e.id for e in log.list(since=1005.0)] == [6, 7, 8, 9, 10]
    assert [e.id for e in log.list(limit=3)] == [8, 9, 10]
    assert [e.id for e in log.list(since=1002.0, limit=2)] == [9, 10]


def test_a_new_sink_starts_at_the_end_and_advances_only_forward(log: EventLog) -> None:
    for i in range(3):
        log.append(_event(i))
    assert log.cursor("mqtt") == 3  # no replay of history for a reporter enabled later
    log.append(_event(3))
    log.advance("mqtt", 4)
    log.advance("mqtt", 2)
    assert log.cursor("mqtt") == 4


def test_sink_health_is_visible_from_another_process(log: EventLog) -> None:
    log.cursor("mqtt")
    for i in range(5):
        log.append(_event(i))
    log.advance("mqtt", 2)
    log.report_failure("mqtt", "broker down", when=50.0)
    log.report_failure("mqtt", "still down", when=60.0)
    log.report_stopped("twitter", "HTTP 401")
    with EventLog(log.path, readonly=True) as reader:
        mqtt, twitter = reader.sink_status()
    assert (mqtt.name, mqtt.cursor, mqtt.backlog) == ("mqtt", 2, 3)
    assert (mqtt.last_error, mqtt.failing_since, mqtt.healthy) == ("still down", 50.0, False)
    assert twitter.stopped_reason == "HTTP 401" and not twitter.healthy
    log.advance("mqtt", 5)
    assert log.sink_status()[0].healthy and log.sink_status()[0].backlog == 0


def test_sink_state_persists(log: EventLog) -> None:
    log.set_sink_state("twitter", {"posts": [1.0, 2.0]})
    with EventLog(log.path) as again:
        assert again.sink_state("twitter") == {"posts": [1.0, 2.0]}


def test_readonly_open_of_a_missing_log_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(EventLogError, match="no event log here"):
        EventLog(tmp_path / "nothing.sqlite3", readonly=True)
    assert not (tmp_path / "nothing.sqlite3").exists()


def test_an_append_that_returned_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    child = subprocess.Popen([sys.executable, str(CHILD), "append", str(path), "100000"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    returned = [int(child.stdout.readline()) for _ in range(200)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    with EventLog(path) as log:
        stored = {e.id for e in log.after(0, limit=1_000_000)}
    assert set(returned) <= stored
    assert sorted(stored) == list(range(1, len(stored) + 1))  # no hole, no half row


def test_a_pending_row_is_kept_but_held_back_from_reporters_until_finished(
        log: EventLog) -> None:
    first = log.append(_event(1))
    waiting = _event(2)
    log.append(waiting, pending=True)
    log.append(_event(3))
    assert [e.id for e in log.after(0)] == [first]  # nothing passes the event being written
    waiting.snapshot = "/state/archive/snap.jpg"
    log.finish(waiting)
    assert [e.id for e in log.after(0)] == [first, first + 1, first + 2]
    assert log.get(waiting.id or 0).snapshot == "/state/archive/snap.jpg"  # type: ignore[union-attr]
    log.append(_event(4), pending=True)  # the writer was killed here
    assert log.release_pending() == 1 and len(log.after(0)) == 4


def test_a_log_from_before_pending_rows_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, camera TEXT NOT NULL, "
            "start_time REAL NOT NULL, end_time REAL NOT NULL, verdict TEXT NOT NULL, "
            "label TEXT NOT NULL, score REAL NOT NULL, body TEXT NOT NULL);")
        old.execute("INSERT INTO events VALUES (1, 'coop', 1, 1, 'chicken', 'hen', 0.9, ?)",
                    (json.dumps({k: v for k, v in _event(1).to_dict().items()
                                 if k not in ("id", "time")}),))
    with EventLog(path) as log:
        log.append(_event(2), pending=True)
        assert [e.id for e in log.after(0)] == [1]
