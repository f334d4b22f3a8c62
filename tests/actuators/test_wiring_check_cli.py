"""``tensorchicken test-deterrents`` on mock pins: fires each device once, refuses when
disarmed, names a wrong device."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main

CONFIG = """\
decision: {armed: %s}
gpio:
  pin_factory: mock
  deterrents:
    - {name: siren, kind: siren, pin: 17, pattern: {on_s: 0.05, off_s: 0.05, repeats: 2}}
    - {name: valve, kind: sprinkler, pin: 5, active_high: false,
       pattern: {on_s: 0.1, off_s: 0, repeats: 1}}
"""


def config(tmp_path: Path, armed: bool = True) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG % str(armed).lower())
    return str(path)


def test_fires_each_deterrent_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-deterrents", "-c", config(tmp_path), "--gap", "0"]) == 0
    out = capsys.readouterr().out
    assert "siren: siren on pin 17, active high, 2 x 0.05 s on / 0.05 s off (0.15 s)" in out
    assert "valve: sprinkler on pin 5, active low, 1 x 0.1 s on / 0 s off (0.1 s)" in out
    assert out.count("  on (") == 2 and out.count("  off after") == 2
    assert out.rstrip().endswith("all off: True")


def test_a_file_without_armed_is_disarmed(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.split("\n", 1)[1])  # the same file without its decision line
    assert main(["test-deterrents", "-c", str(path), "--device", "valve"]) == 1
    assert "refusing: the configuration is disarmed" in capsys.readouterr().err


def test_refuses_when_disarmed_unless_forced(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, armed=False)
    assert main(["test-deterrents", "-c", path]) == 1
    assert "refusing: the configuration is disarmed" in capsys.readouterr().err
    assert main(["test-deterrents", "-c", path, "--force", "--device", "valve"]) == 0
    out = capsys.readouterr().out
    assert "valve:" in out and "siren:" not in out


def test_an_unknown_device_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-deterrents", "-c", config(tmp_path), "--device", "horn"]) == 2
    assert "no deterrent named 'horn' (configured: siren, valve)" in capsys.readouterr().err
