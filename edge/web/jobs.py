"""Long work started from the page (training a head, a model change): one at a time, on a
thread of its own, its progress kept as lines the page shows."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_LINES = 400


class JobBusy(RuntimeError):
    """A job is running already."""


@dataclass(slots=True)
class Job:
    """One piece of work: its title, state (``running``, ``done``, ``failed``) and output."""

    title: str
    state: str = "running"
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def say(self, line: str) -> None:
        """Add a line of progress."""
        self.lines.append(line.rstrip())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the page's progress view."""
        return {"title": self.title, "state": self.state, "lines": list(self.lines),
                "started": self.started, "finished": self.finished}


class Jobs:
    """Runs at most one job at a time: the Pi's cores belong to the guard first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: Job | None = None

    @property
    def running(self) -> bool:
        """Whether a job runs now."""
        job = self._job
        return job is not None and job.state == "running"

    @property
    def current(self) -> Job | None:
        """The running job, or the last one."""
        return self._job

    def start(self, title: str, work: Callable[[Job], bool]) -> Job:
        """Run ``work(job)`` on a daemon thread; it returns whether it succeeded. JobBusy when
        a job runs already."""
        with self._lock:
            if self._job is not None and self._job.state == "running":
                raise JobBusy(f"{self._job.title} is still running")
            job = self._job = Job(title)
        threading.Thread(target=self._run, args=(job, work), name="web-job", daemon=True).start()
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Job], bool]) -> None:
        try:
            ok = work(job)
        except Exception as exc:
            log.exception("web: %s failed", job.title)
            job.say(f"failed: {exc}")
            ok = False
        job.state = "done" if ok else "failed"
        job.finished = time.time()


def run_command(job: Job, argv: Sequence[str], niceness: int = 10) -> bool:
    """Run ``argv`` at a lower priority (through ``nice``: a ``preexec_fn`` is not safe in a
    process with threads), its output (stdout and stderr) going to the job's lines; whether it
    exited 0."""
    job.say("$ " + " ".join(argv))
    nice = shutil.which("nice")
    command = [nice, "-n", str(niceness), *argv] if nice else list(argv)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            job.say(line)
        code = proc.wait()
    job.say(f"exit code {code}")
    return code == 0
