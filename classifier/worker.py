"""One thread per model, fed through a short queue that never grows: when it is full, the new
job is skipped and counted (Frigate's habit with frames), so a slow model falls behind by
skipping crops, never by building a backlog or holding up its caller.

Example::

    worker = BoundedWorker("shadow-mobilenet_v1", capacity=2, nice=10)
    if not worker.offer(lambda: model.probabilities(rgb)):
        ...                     # skipped: the worker is behind; worker.skipped counts it
    worker.close()              # finishes what is queued, then stops
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class BoundedWorker:
    """Runs offered callables in order on its own thread; at most ``capacity`` wait."""

    def __init__(self, name: str, *, capacity: int = 2, nice: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"a worker's capacity must be at least 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.nice = nice
        self.offered = 0
        self.skipped = 0
        self.done = 0
        self._jobs: deque[Callable[[], None]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, job: Callable[[], None]) -> bool:
        """Queue ``job``; False (and counted in ``skipped``) when the queue is full or closed."""
        with self._cond:
            self.offered += 1
            if self._closing or len(self._jobs) >= self.capacity:
                self.skipped += 1
                return False
            self._jobs.append(job)
            self._cond.notify()
            return True

    @property
    def backlog(self) -> int:
        """Jobs queued or running."""
        with self._cond:
            return len(self._jobs) + int(self._busy)

    def _run(self) -> None:
        if self.nice:
            # Linux nice values are per thread: this lowers only this worker (and the threads
            # its interpreter starts from here), so the critical path keeps the CPU first.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        while True:
            with self._cond:
                while not self._jobs and not self._closing:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                self._busy = True
            try:
                job()
            except Exception:
                log.exception("worker %s: a job failed", self.name)
            finally:
                with self._cond:
                    self._busy = False
                    self.done += 1

    def close(self, timeout_s: float | None = 30.0) -> None:
        """Finish the queued jobs, then stop; idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
