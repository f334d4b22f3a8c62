"""``tensorchicken events``: the log, read from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.cli.events import parse_when
from edge.event import Event
from edge.events import EventLog


@pytest.fixture()
def config(tmp_path: Path, state_dir: Path) -> Path:
    with EventLog(state_dir / "events.sqlite3") as log:
        log.cursor("mqtt")  # the reporter was there before the events
        for i, verdict in enumerate(["chicken", "predator", "background"]):
            log.append(Event("coop", 1_800_000_000.0 + i * 3600, 1_800_000_001.0 + i * 3600,
                             verdict, "fox" if verdict == "predator" else "hen", 0.7 + i / 10,
                             deterrents=["siren"] if verdict == "predator" else [],
                             latency_ms={"capture": 3.0, "inference": 40.0, "total": 61.0}))
        log.advance("mqtt", 2)
    path = tmp_path / "config.yaml"
    path.write_text(f"paths:\n  state_dir: {state_dir}\n")
    return path


def test_json_lists_every_event_with_the_documented_keys(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--json", "-c", str(config)]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in events] == [1, 2, 3]
    for key in ("id", "time", "verdict", "label", "score", "deterrents", "latency_ms"):
        assert all(key in e for e in events), key
    assert events[1]["deterrents"] == ["siren"] and events[1]["latency_ms"]["inference"] == 40.0


def test_since_and_limit_filter(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    since = str(1_800_000_000.0 + 3600)
    assert main(["events", "--json", "--since", since, "-c", str(config)]) == 0
    assert [e["id"] for e in json.loads(capsys.readouterr().out)] == [2, 3]
    assert main(["events", "--limit", "1", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#3 ") and "background hen 0.90" in out and "61 ms" in out


def test_sinks_show_cursor_and_backlog(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--sinks", "-c", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "mqtt: at event 2, 1 waiting, ok"


def test_a_bad_since_is_one_line_and_exit_2(config: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["events", "--since", "yesterday-ish", "-c", str(config)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'yesterday-ish'" in err and "2h" in err


def test_no_log_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"paths:\n  state_dir: {tmp_path / 'empty'}\n")
    assert main(["events", "-c", str(config)]) == 1
    assert "no event log here" in capsys.readouterr().err


def test_when_accepts_dates_ages_and_seconds() -> None:
    assert parse_when("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_when("1.5d", now=200_000.0) == 200_000.0 - 129_600
    assert parse_when("1800000000") == 1_800_000_000.0
    assert parse_when("2026-05-01T20:00") == parse_when("2026-05-01 20:00")


def test_a_firing_shows_its_outcome_and_clip(config: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "-c", str(config)]) == 0
    assert "fired=siren 61 ms outcome=watching\n" in capsys.readouterr().out  # undecided
    state = Path(yaml.safe_load(config.read_text())["paths"]["state_dir"])
    with EventLog(state / "events.sqlite3") as log:
        fox = log.get(2)
        assert fox is not None
        fox.outcome = {"result": "left", "left_after_s": 2.5, "returned": False,
                       "fired_again": False}
        fox.clip = "archive/2027-01-15/080000.000000_coop/clip.mp4"
        log.update(fox)
    assert main(["events", "-c", str(config)]) == 0
    assert ("fired=siren 61 ms outcome=left 2.5s "
            "clip=archive/2027-01-15/080000.000000_coop/clip.mp4\n") in capsys.readouterr().out
    assert main(["events", "--json", "-c", str(config)]) == 0
    events = json.loads(capsys.readouterr().out)
    assert events[1]["outcome"]["left_after_s"] == 2.5 and events[1]["clip"].endswith("clip.mp4")
    assert events[0]["outcome"] is None and events[0]["clip"] is None
