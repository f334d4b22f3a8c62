"""The nightly re-fit: once a day at ``learn.refit_at`` (local time), in a child process.

The appliance starts ``tensorchicken learn nightly`` (the same command an owner can run) as a
separate process: it lowers its own priority (``learn.refit_nice``) so the frame loops keep the
CPU, its memory is its own and returns when it ends, and ``learn.refit_timeout_s`` bounds it (it
is killed after that). What it registers or promotes reaches the running appliance through
``models.yaml``, which the model keeper watches (as for ``tensorchicken models promote``).

Example::

    nightly = NightlyRefit(cfg.learn, learn_command(config_path), stop)
    nightly.start()
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.config.learn import LearnConfig

log = logging.getLogger(__name__)


def learn_command(config_path: Path | None) -> list[str]:
    """``tensorchicken learn nightly`` with this interpreter and configuration."""
    command = [sys.executable, "-m", "edge.cli", "learn"]
    if config_path is not None:
        command += ["-c", str(config_path)]
    return [*command, "nightly"]


def next_run(at: str, now: float) -> float:
    """The next Unix time, after ``now``, at local clock time ``at`` (HH:MM)."""
    hour, minute = (int(x) for x in at.split(":"))
    t = time.localtime(now)
    today = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, minute, 0, 0, 0, -1))
    if today > now:
        return today
    t = time.localtime(today + 86400 + 3600)  # tomorrow, whatever a DST change does tonight
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, minute, 0, 0, 0, -1))


class NightlyRefit:
    """Runs ``command`` at ``cfg.refit_at`` every day until ``stop`` is set."""

    def __init__(self, cfg: LearnConfig, command: Sequence[str], stop: threading.Event, *,
                 env: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not cfg.refit_at:
            raise ValueError("learn.refit_at is empty: no nightly re-fit to schedule")
        self.cfg = cfg
        self.command = list(command)
        self.stop = stop
        self.env = env
        self._clock = clock
        self.runs = 0
        self.last_code: int | None = None
        self._thread = threading.Thread(target=self._loop, name="nightly-refit", daemon=True)

    def start(self) -> None:
        """Start waiting for the first run."""
        self._thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            due = next_run(self.cfg.refit_at, self._clock())
            if self.stop.wait(max(0.0, due - self._clock())):
                return
            self.run_once()

    def run_once(self) -> int | None:
        """Run the command now and wait for it (at most ``refit_timeout_s``); its exit code,
        None when it was killed for taking too long or could not start."""
        self.runs += 1
        started = time.monotonic()
        try:
            done = subprocess.run(self.command, env=self.env, capture_output=True, text=True,
                                  timeout=self.cfg.refit_timeout_s, check=False)
        except subprocess.TimeoutExpired:
            log.error("nightly re-fit killed after %.0f s (learn.refit_timeout_s)",
                      self.cfg.refit_timeout_s)
            self.last_code = None
            return None
        except OSError as exc:
            log.error("nightly re-fit could not start: %s", exc)
            self.last_code = None
            return None
        self.last_code = done.returncode
        took = time.monotonic() - started
        if done.returncode == 0:
            log.info("nightly re-fit done in %.0f s: %s", took, done.stdout.strip()[-500:])
        else:
            log.warning("nightly re-fit failed (exit %d, %.0f s): %s", done.returncode, took,
                        (done.stderr or done.stdout).strip()[-500:])
        return done.returncode

    def close(self) -> None:
        """Stop waiting (a run in progress finishes on its own)."""
        self.stop.set()
        self._thread.join(timeout=1.0)
