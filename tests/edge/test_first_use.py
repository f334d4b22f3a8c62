"""A new owner's first hour, with the real console script: the demo, finding its events,
labelling them, doctor, and the small things (--version, secrets, executable scripts)."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.assets import AssetStore
from tests.conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[2]
TC = str(Path(sys.executable).with_name("tensorchicken"))


def tc(*args: str, env: dict[str, str] | None = None, timeout: float = 240,
       cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``tensorchicken ARGS`` from this venv, as a user types it."""
    return subprocess.run([TC, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd, check=False)


def run_printed(line: str) -> subprocess.CompletedProcess[str]:
    """Run a command line exactly as printed (its first word is ``tensorchicken``)."""
    words = shlex.split(line)
    assert words[0] == "tensorchicken", line
    return tc(*words[1:])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A whole demo run: its state folder and what it printed."""
    state = tmp_path_factory.mktemp("demo-state")
    result = tc("demo", "--state-dir", str(state), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return state, result.stdout


def test_the_demo_prints_commands_that_find_its_events(demo: tuple[Path, str]) -> None:
    state, out = demo
    printed = [line.split(":", 1)[1].strip() for line in out.splitlines()
               if "tensorchicken events" in line or "tensorchicken label" in line]
    assert len(printed) == 2 and all(str(state) in line for line in printed), out
    events = run_printed(printed[0])
    assert events.returncode == 0, events.stderr
    assert "predator" in events.stdout and events.stdout.startswith("#")
    labels = run_printed(printed[1])
    assert labels.returncode == 0, labels.stderr
    assert "archived crop(s)" in labels.stdout


def test_label_set_takes_the_numbers_events_prints_and_c_after_the_action(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    state, _ = demo
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"paths": {"state_dir": str(state)}}))
    listed = tc("label", "list", "-c", str(config), "--json")  # -c after the action
    assert listed.returncode == 0, listed.stderr
    crops = json.loads(listed.stdout)
    shown = tc("events", "--state-dir", str(state), "--json")
    ids = [e["id"] for e in json.loads(shown.stdout)]
    with_crops = [c["event_id"] for c in crops if c["event_id"] is not None]
    assert len(with_crops) >= 2 and set(with_crops) <= set(ids)
    first, second = with_crops[:2]
    done = tc("label", "set", str(first), f"#{second}", "--as", "background", "-c", str(config))
    assert done.returncode == 0, done.stderr
    labelled = {c["event_id"]: c["owner_label"] for c in json.loads(
        tc("label", "-c", str(config), "list", "--json").stdout)}  # and before it
    assert labelled[first] == labelled[second] == "background"
    missing = tc("label", "set", "99999", "--as", "chicken", "--state-dir", str(state))
    assert missing.returncode == 1
    assert "event 99999 has no archived crop" in missing.stderr
    tc("label", "clear", str(first), str(second), "--state-dir", str(state))


def _broken_footage(tmp_path: Path) -> dict[str, str]:
    """A data folder whose demo clip and arrivals scene are unreadable (a truncated copy)."""
    data = tmp_path / "data"
    store = AssetStore(data_dir=data)
    for name in ("intel__one-by-one-person-detection.mp4", "speciesnet__blank2.jpg"):
        path = store.local_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a video, not a picture")
    return {"TENSORCHICKEN_DATA_DIR": str(data)}


def test_a_demo_that_never_read_a_frame_fails_and_says_why(tmp_path: Path) -> None:
    result = tc("demo", "--duration", "4", "--json", "--state-dir", str(tmp_path / "s"),
                env=_broken_footage(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert "camera yard never delivered a frame: cannot open the source" in error
    assert "camera coop never delivered a frame" in error


def test_a_demo_whose_photos_never_arrived_fails(tmp_path: Path) -> None:
    result = tc("demo", "--duration", "2", "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "tensorchicken demo: failed: no photo arrival was shown" in result.stderr
    assert "not shown" in result.stdout and "no firing" not in result.stdout


def test_a_run_whose_camera_never_delivered_a_frame_fails(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "cameras": [{"name": "gate", "kind": "opencv", "address": str(tmp_path / "gone.mp4")}],
        "gpio": {"pin_factory": "mock"}, "paths": {"state_dir": str(tmp_path / "state")},
        "health": {"metrics_address": None}, "web": {"address": None}}))
    result = tc("run", "-c", str(config), "--duration", "3")
    assert result.returncode == 1, result.stderr
    assert "camera gate never delivered a frame: cannot open the source" in result.stderr


def test_doctor_says_which_configuration_it_checked(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"paths": {"state_dir": str(tmp_path / "state")}}))
    found = {f["part"]: f for f in json.loads(tc("doctor", "--json").stdout)}
    assert found["config"]["status"] == "warn"
    assert "built-in defaults" in found["config"]["message"]
    assert "-c /etc/tensorchicken/config.yaml" in found["config"]["message"]
    mine = {f["part"]: f for f in json.loads(tc("doctor", "-c", str(config), "--json").stdout)}
    assert mine["config"] == {"part": "config", "status": "ok", "message": f"checked {config}"}


def test_version() -> None:
    result = tc("--version")
    assert result.returncode == 0 and result.stdout.strip() == "tensorchicken 0.1.0"


def test_validate_config_names_every_secret(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"reporters": {
        "mqtt": {"password": "hunter2"},
        "twitter": {"consumer_key": "k", "access_token_secret": "s"}}}))
    result = tc("validate-config", str(config))
    assert result.returncode != 0
    for name in ("mqtt.password", "twitter.consumer_key", "twitter.access_token_secret"):
        assert name in result.stdout + result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_label_list_creates_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    result = tc("label", "list", "--state-dir", str(state))
    assert result.returncode == 0 and "0 archived crop(s)" in result.stdout
    assert list(state.iterdir()) == []


def test_the_benchmark_scripts_are_executable() -> None:
    staged = subprocess.run(["git", "ls-files", "-s", "scripts"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    benches = [line for line in staged if "/bench_" in line]
    assert benches
    for line in benches:
        mode, path = line.split()[0], line.split()[-1]
        assert (REPO / path).read_text().startswith("#!"), path
        assert mode == "100755" and os.access(REPO / path, os.X_OK), path


def test_the_worked_example_keeps_active_low_relays_off_while_the_pi_boots(
        tmp_path: Path) -> None:
    from edge.demo import demo_config

    # The Pi 1-4 pull GPIO0-8 up at power-on (README, wiring): an active-low relay there stays
    # off while the Pi boots; on GPIO9-27, pulled down, it would be on.
    low = [d for d in demo_config(tmp_path).gpio.deterrents if not d.active_high]
    assert [(d.name, int(str(d.pin).removeprefix("GPIO"))) for d in low] == [("sprinkler", 5)]


def readme_commands() -> list[list[str]]:
    """Every ``tensorchicken ...`` line of the README's shell examples, as words (comments off)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "tensorchicken":
                found.append(words)
    return found


def test_the_readmes_event_and_label_examples_run_as_written(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    # The README's commands act on the default state folder: here a copy of the demo's (a
    # copied or moved state folder must still find its events).
    state = tmp_path / "state"
    shutil.copytree(demo[0], state)
    examples = [w for w in readme_commands() if w[1] in ("events", "label")]
    ran = set()
    for words in examples:
        result = tc(*words[1:], env={"TENSORCHICKEN_STATE_DIR": str(state)}, cwd=tmp_path)
        assert result.returncode == 0, (shlex.join(words), result.stdout + result.stderr)
        ran.add(" ".join(words[1:3]) if words[1] == "label" else words[1])
    assert {"events", "label list", "label set"} <= ran
    labels = (state / "labels.csv").read_text().splitlines()
    assert len(labels) == 3 and all(",background," in line for line in labels[1:])


def _photos(folder: Path, per_label: dict[str, int]) -> Path:
    """``photos/`` and ``photos.csv`` in ``folder``, as the README's retraining example has
    them: a few of the shared photos of each label, copied."""
    (folder / "photos").mkdir()
    rows = []
    with (SHARED_DATA / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if per_label.get(row["label"], 0) > sum(r[1] == row["label"] for r in rows):
                name = Path(row["file"]).name
                shutil.copyfile(SHARED_DATA / row["file"], folder / "photos" / name)
                rows.append((name, row["label"], row.get("subclass", "")))
    with (folder / "photos.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "subclass"])
        writer.writerows(rows)
    return folder / "photos.csv"


def test_the_readmes_retraining_example_runs_as_written(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    # The owner's photos beside them, the demo's events as the state folder, and a data folder
    # of its own (packages are written there; models come from the mirror).
    state = tmp_path / "state"
    shutil.copytree(demo[0], state)
    _photos(tmp_path, {"chicken": 5, "predator": 5, "background": 4})
    env = {"TENSORCHICKEN_STATE_DIR": str(state), "TENSORCHICKEN_DATA_DIR": str(tmp_path / "data")}
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Retraining on your own coop"):]
    begin = section.index("```sh\n") + len("```sh\n")
    example = section[begin:section.index("```", begin)]
    lines = [shlex.split(line, comments=True) for line in example.splitlines()]
    assert [w[:2] for w in lines if w][-3:] == [
        ["tensorchicken", "train"], ["tensorchicken", "models"], ["tensorchicken", "models"]]
    for words in filter(None, lines):
        result = tc(*words[1:], env=env, cwd=tmp_path, timeout=600)
        assert result.returncode == 0, (shlex.join(words), result.stdout + result.stderr)
    # What the example promised: the package it named decides (joined beside the primary) ...
    listed = tc("models", "list", "--json", env=env, cwd=tmp_path)
    roles = {m["name"]: m["role"] for m in json.loads(listed.stdout)["models"]}
    assert roles.get("coop-v1") == "critical", roles
    # ... and "models rollback if it disappoints" undoes it.
    assert tc("models", "rollback", env=env, cwd=tmp_path).returncode == 0
    listed = tc("models", "list", "--json", env=env, cwd=tmp_path)
    roles = {m["name"]: m["role"] for m in json.loads(listed.stdout)["models"]}
    assert roles.get("coop-v1") != "critical", roles
