"""The command line: every subcommand has help; wrong arguments are one line and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import build_parser, main
from tests.conftest import SHARED_DATA

REQUIRED = {
    "run",
    "demo",
    "validate-config",
    "fetch-models",
    "classify",
    "eval",
    "motion",
    "events",
    "doctor",
    "test-deterrents",
}


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


def test_every_required_subcommand_exists() -> None:
    assert set(subcommands()) >= REQUIRED


@pytest.mark.parametrize("command", subcommands())
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tensorchicken {command}")


@pytest.mark.parametrize("command", subcommands())
def test_wrong_argument_is_one_line_and_exit_2(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--no-such-option"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("tensorchicken") and ": error: " in err


def test_console_script_never_shows_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "validate-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("(see --help)")


def test_validate_config_reports_problems_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2 is the unit's RestartPreventExitStatus: a bad file is not retried.
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [{fps: -1}]\n")
    assert main(["validate-config", str(bad)]) == 2
    assert "cameras.0.fps: Input should be greater than 0 (got -1)" in capsys.readouterr().out
    assert main(["validate-config", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read it" in capsys.readouterr().out
    good = tmp_path / "good.yaml"
    good.write_text("decision: {armed: false}\n")
    assert main(["validate-config", str(good)]) == 0


def test_validate_config_catches_a_typo_in_quiet_devices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quiet.yaml"
    path.write_text("decision: {quiet_devices: [sirne]}\n")
    assert main(["validate-config", str(path), "--json"]) == 2
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem.startswith("decision.quiet_devices: 'sirne' is neither a deterrent kind")


def test_run_with_an_invalid_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The unit validates through `run` itself: systemd's RestartPreventExitStatus does not
    # apply to ExecStartPre, so a failing ExecStartPre would be retried.
    path = tmp_path / "quiet.yaml"
    path.write_text("decision: {quiet_devices: [sirne]}\n")
    assert main(["run", "--config", str(path)]) == 2
    assert "decision.quiet_devices" in capsys.readouterr().err


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True))
BAD_FILES = {
    "not UTF-8": (b"cameras:\n  - name: caf\xe9\n",
                  "(file): not UTF-8 text: byte 0xe9 at offset 22 (save the file as UTF-8)"),
    "nested": (b"cameras: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
               "(file): nested more than 64 levels deep (line 1)"),
    "alias bomb": (BOMB.encode(), "(file): expands to more than 100000 values (through its "
                   "aliases, line"),
    # YAML keeps the last of two keys silently: the second section would drop armed: true.
    "a key twice": (b"decision:\n  armed: true\ncameras: [{name: a}]\ndecision:\n  cooldown_s: 5\n",
                    "(file): key 'decision' is given twice, on lines 1 and 4: YAML would keep "
                    "the second and drop the first"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
@pytest.mark.parametrize("command", ["validate-config", "run"])
def test_a_file_no_retry_can_mend_is_one_line_and_exit_2(
        tmp_path: Path, name: str, command: str) -> None:
    content, message = BAD_FILES[name]
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    args = [str(path)] if command == "validate-config" else ["-c", str(path), "--duration", "0"]
    # A child process with a time limit: a hang (or a blow-up in memory) fails, not waits.
    done = subprocess.run([sys.executable, "-m", "edge.cli", command, *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONUTF8": "1"})
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert "Traceback" not in output and message in output, output
    assert len(output.splitlines()) == 2  # the file and its one problem


@pytest.mark.parametrize("argv", [
    ["demo", "--duration", "nan"], ["run", "--duration", "inf"], ["farm", "--port", "0"],
    ["test-deterrents", "--gap", "1e308"], ["motion", "clip.mp4", "--gap", "-1"],
])
def test_a_number_out_of_range_is_refused_before_anything_runs(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # --duration nan never ended; --gap inf overflowed a timestamp after the first deterrent.
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-2]}:" in err and "Traceback" not in err


def test_a_state_folder_that_is_a_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "events.txt"
    taken.write_text("not a folder")
    assert main(["demo", "--state-dir", str(taken), "--web", "off"]) == 2
    err = capsys.readouterr().err
    assert f"{taken}: a file is there, not a folder" in err and "Traceback" not in err
    assert taken.read_text() == "not a folder"


def test_a_wrong_name_or_path_is_the_asker_s_mistake_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = str(SHARED_DATA / "images" / "predator" / "wikianimals__fox.webp")
    assert main(["classify", "--model", "nope", photo]) == 2
    assert "model 'nope' is not in the manifest" in capsys.readouterr().err
    assert main(["motion", str(tmp_path)]) == 2
    assert "not a video file (a folder of frames goes to eval --clips)" in \
        capsys.readouterr().err
    assert main(["motion", str(tmp_path / "gone.mp4")]) == 2
    assert "gone.mp4: no such video file" in capsys.readouterr().err
