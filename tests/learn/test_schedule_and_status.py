"""The nightly re-fit's schedule and child process; what doctor, the metrics and
``tensorchicken learn status`` say about each camera's scene."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from classifier.feature_head import shipped_head
from classifier.registry import ModelRegistry
from edge.assets import AssetStore
from edge.config import LearnConfig, parse_config
from edge.doctor.checks import check_learning
from edge.health.metrics import ScrapeTimeGauges
from edge.learn.metrics import watch_learning
from edge.learn.record import LearnRecord
from edge.learn.scenes import SceneStore, scenes_dir
from edge.learn.schedule import NightlyRefit, learn_command, next_run
from tests.conftest import REPO, SHARED_DATA, gated_refit_copy

NEST = SHARED_DATA / "train" / "background"
NOON = time.mktime((2026, 6, 1, 12, 0, 0, 0, 0, -1))


def test_the_next_run_is_today_at_the_time_or_else_tomorrow() -> None:
    assert time.localtime(next_run("13:30", NOON))[3:5] == (13, 30)
    assert next_run("13:30", NOON) - NOON == 5400
    tomorrow = next_run("02:30", NOON)
    assert time.localtime(tomorrow)[2:5] == (2, 2, 30)


def test_the_nightly_child_runs_the_learn_command_and_reports_its_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"paths: {{state_dir: {tmp_path / 'state'}}}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    nightly = NightlyRefit(LearnConfig(), learn_command(config), threading.Event(), env=env)
    with caplog.at_level(logging.WARNING, logger="edge.learn.schedule"):
        assert nightly.run_once() == 1  # a fresh coop: no scene collected yet to re-fit on
    assert "nothing to learn yet" in caplog.text


def test_a_nightly_child_that_takes_too_long_is_killed(caplog: pytest.LogCaptureFixture) -> None:
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    nightly = NightlyRefit(LearnConfig(refit_timeout_s=0.5), slow, threading.Event())
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="edge.learn.schedule"):
        assert nightly.run_once() is None
    assert time.monotonic() - started < 10 and "killed after" in caplog.text


def test_the_refit_command_lowers_its_own_priority(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os, sys; from edge.cli import main; "
         "code = main(['learn', 'refit']); print('nice', os.nice(0))"],
        env={**os.environ, "PYTHONPATH": str(REPO),
             "TENSORCHICKEN_STATE_DIR": str(tmp_path / "state")},
        capture_output=True, text=True, check=False, cwd=REPO)
    assert "nice 19" in done.stdout, done.stderr
    assert "nothing to learn yet" in done.stderr


def test_doctor_metrics_and_status_say_how_much_of_its_scene_a_camera_learned(
    tmp_path: Path, asset_store: AssetStore, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    config = parse_config({"cameras": [{"name": "nest"}], "paths": {"state_dir": str(state)}})
    store = SceneStore(scenes_dir(state), 8, 72)
    for hour, name in ((9, "2016-06-18_0900"), (7, "2016-06-18_0700")):
        bgr = cv2.imread(str(NEST / f"chookegg__EggCheck_image_{name}.jpg"))
        crop = cv2.cvtColor(cv2.resize(bgr, (224, 224)), cv2.COLOR_BGR2RGB)
        store.add("nest", NOON + (hour - 12) * 3600, crop, "still")
    found = [f.message for f in check_learning(config, asset_store)]
    assert found[0] == "nest: 2 empty-scene crops, 2 of 24 hours of the day (1 day, 1 night)" \
        "; it learns a camera's scene as it runs"
    assert found[1].startswith("no re-fit yet (nightly at 02:30)")
    record = LearnRecord(state)
    record.add({"kind": "refit", "at": NOON, "candidate": "scene-1", "seconds": 12.5,
                "base": "coop-1", "running": "coop-1", "peak_mb": 80.0,
                "offline": {"cameras": [{"camera": "nest", "labelled": {
                    "chicken": {"n": 4, "running": 2, "candidate": 4}},
                    "empty": {"n": 10, "running_alarms": 3, "candidate_alarms": 0},
                    "disagreements": []}], "reasons": []}}, {"name": "scene-1"})
    last = [f.message for f in check_learning(config, asset_store)][1]
    assert "scene-1, 12.5 s): nest: empty scenes called predator 3 -> 0 of 10, chicken right " \
        "2 -> 4 of 4" in last
    gauges = ScrapeTimeGauges()
    watch_learning(gauges, store, record, ["nest"])
    registry = CollectorRegistry()
    registry.register(gauges)
    text = generate_latest(registry).decode()
    assert 'tensorchicken_scene_crops{camera="nest",light="night"} 1.0' in text
    assert 'tensorchicken_scene_hours_covered{camera="nest"} 2.0' in text
    assert gauges.read("tensorchicken_learn_last_refit_timestamp_seconds") == NOON
    assert "tensorchicken_learn_candidate_waiting 1.0" in text
    # What the last re-fit changed on the camera's held-out empty scenes.
    assert 'tensorchicken_learn_held_out_empty_scenes{camera="nest"} 10.0' in text
    assert 'tensorchicken_learn_held_out_empty_alarms{camera="nest",head="running"} 3.0' in text
    assert ('tensorchicken_learn_held_out_empty_alarms{camera="nest",head="candidate"} 0.0'
            in text)
    from edge.cli import main
    config_file = tmp_path / "c.yaml"
    config_file.write_text(json.dumps({"cameras": [{"name": "nest"}],
                                       "paths": {"state_dir": str(state)}}), encoding="utf-8")
    assert main(["learn", "-c", str(config_file), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["cameras"][0]["hours_covered"] == 2 and status["candidate"]["name"] == "scene-1"
    assert status["cameras"][0]["default_head"]["name"] == shipped_head().name
    # Once the nest box's own re-fit decides, the status says so.
    refit = tmp_path / "scene-default-nest-1"
    gated_refit_copy(refit, "nest-1")
    ModelRegistry(state, config.models).promote_head("scene-default-nest-1", refit, "nest")
    assert main(["learn", "status", "-c", str(config_file)]) == 0  # -c after the action too
    assert (f"decides with {shipped_head().info.name}-nest-1 (its own re-fit; decides near its 5 "
            "crops, the shipped head elsewhere)") in capsys.readouterr().out
    said = [f.message for f in check_learning(config, asset_store)]
    assert (f"camera nest decides with its own re-fit {shipped_head().info.name}-nest-1; decides "
            "near its 5 crops, the shipped head elsewhere") in said
    shutil.rmtree(refit)  # a card restored from an old image: the folder is gone
    (warned,) = [f for f in check_learning(config, asset_store) if "does not load" in f.message]
    assert warned.status == "warn" and warned.message.startswith(
        "camera nest: its re-fitted default head does not load (")
    assert warned.message.endswith("the shipped head decides its crops; the next re-fit or "
                                   "'tensorchicken models rollback' replaces it")
