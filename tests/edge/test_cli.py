"""The command line: every subcommand has help; wrong arguments are one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edge.cli import build_parser, main

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


def test_validate_config_reports_problems(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [{fps: -1}]\n")
    assert main(["validate-config", str(bad)]) == 1
    assert "cameras.0.fps: Input should be greater than 0 (got -1)" in capsys.readouterr().out
    good = tmp_path / "good.yaml"
    good.write_text("decision: {armed: false}\n")
    assert main(["validate-config", str(good)]) == 0
