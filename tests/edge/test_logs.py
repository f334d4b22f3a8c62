"""Logging as text or JSON lines (``logging.json_lines``)."""

from __future__ import annotations

import json
import logging

import pytest

from edge.logs import configure


@pytest.fixture(autouse=True)
def _restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", json_lines=True)
    logging.getLogger("edge.test").warning("fox at %s", "coop")
    logging.getLogger("edge.test").debug("not shown")
    record = json.loads(capsys.readouterr().err.strip())
    assert {k: record[k] for k in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "edge.test",
        "message": "fox at coop",
    }


def test_text_replaces_the_earlier_set_up(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", json_lines=True)
    configure("DEBUG")
    logging.getLogger("edge.test").debug("hen at %s", "coop")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith("DEBUG edge.test: hen at coop")


def test_a_repeated_line_is_held_back_and_then_counted() -> None:
    from edge.logs import RepeatLimit

    now = [0.0]
    limit = RepeatLimit(burst=3, window_s=10, clock=lambda: now[0])

    def record(msg: str, level: int = logging.INFO) -> logging.LogRecord:
        return logging.LogRecord("edge.events.mqtt", level, __file__, 1, msg, ("x",), None)

    flood = [limit.filter(record("mqtt: ignored %r")) for _ in range(1000)]
    assert flood.count(True) == 3
    fired = record("camera %s: fox -> fired siren", logging.WARNING)
    assert limit.filter(fired)  # another line is never crowded out
    now[0] = 10.0
    later = record("mqtt: ignored %r")
    assert limit.filter(later) and later.getMessage() == (
        "mqtt: ignored 'x' (997 more like this held back)")


def test_a_late_record_goes_to_stderr_as_it_is_then(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread that logs after stderr was replaced and the old one closed (an MQTT client on
    connecting, after a test runner's capture ended) writes to the new one, without an error."""
    import io

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure("INFO")
    logging.getLogger("edge.test").info("fox at the run")
    monkeypatch.setattr("sys.stderr", second)
    first.close()
    errors: list[BaseException] = []
    monkeypatch.setattr(logging, "raiseExceptions", True)
    monkeypatch.setattr(logging.Handler, "handleError",
                        lambda self, record: errors.append(RuntimeError(record.getMessage())))
    logging.getLogger("edge.test").info("mqtt: connected")
    assert errors == [] and second.getvalue().rstrip().endswith("edge.test: mqtt: connected")
