"""``tensorchicken test-deterrents`` in a real child process: a signal mid-burst (SIGTERM from
systemd or kill, SIGHUP from a dropped SSH session) switches every pin off and ends the check."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

WRAPPER = Path(__file__).resolve().parent.parent / "edge" / "run_wrapper.py"

# A 30 s burst: the signal always comes while the siren is on. The valve (active low) is next.
CONFIG = """\
decision: {armed: true}
gpio:
  pin_factory: auto
  deterrents:
    - {name: siren, kind: siren, pin: 17, max_on_s: 40,
       pattern: {on_s: 30, off_s: 0, repeats: 1}}
    - {name: valve, kind: sprinkler, pin: 5, active_high: false,
       pattern: {on_s: 0.1, off_s: 0, repeats: 1}}
"""


class Stdout:
    """Every line the child prints, read by a thread as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # the child closed its stdout

    def until(self, needle: str, timeout: float) -> None:
        while not any(needle in line for line in self.seen):
            line = self.lines.get(timeout=timeout)
            assert line is not None, f"the child ended before printing {needle!r}: {self.seen}"
            self.seen.append(line)

    def rest(self) -> str:
        self._thread.join(30)
        while (line := self.lines.get_nowait()) is not None:
            self.seen.append(line)
        return "".join(self.seen)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_mid_burst_switches_everything_off(tmp_path: Path, sig: signal.Signals) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    proc = subprocess.Popen(
        [sys.executable, str(WRAPPER), "test-deterrents", "-c", str(path), "--gap", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    stdout = Stdout(proc)
    stdout.until("  on (", timeout=60)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 0  # the wrapper ran to its end: no death by signal
    out = stdout.rest()
    assert f"stopped by {sig.name}: every deterrent switched off" in out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["code"] == 128 + sig
    siren = [state for _, state in result["states"]["GPIO17"]]
    assert siren == [False, True, False], siren  # off at start, on, off at the signal
    assert result["states"]["GPIO17"][-1][0] < 30  # seconds it was on: cut short, not played
    assert "valve:" not in out  # the check ended: the next device was never fired
    assert result["states"]["GPIO5"][-1][1] is True  # active low: HIGH is off
