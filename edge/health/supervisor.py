"""Supervision of the camera loops while the appliance runs.

Each loop marks its progress (:meth:`Supervisor.mark`, called from its own thread once per
frame taken). Twice a second the supervisor tells the deterrent bank when the slowest loop last
made progress (so the deterrents go off ``hung_after_s`` after it), feeds systemd's watchdog
while no loop is hung, and keeps the ``systemctl status`` line current. A hung loop stops the
watchdog's food, and systemd restarts the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from edge.health.notify import Notifier

log = logging.getLogger(__name__)

# How often the loops are looked at: well under any hung_after_s, cheap on the Pi.
TICK_S = 0.5


class Supervisor:
    """Watches the camera loops' progress for the appliance's run.

    ``heartbeat(at_ns)`` is the deterrent bank's; ``status_line()`` says in one line what runs
    (see :func:`edge.health.status.status_line`); ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        stop: threading.Event,
        notifier: Notifier,
        heartbeat: Callable[[int], None],
        hung_after_s: float,
        status_line: Callable[[], str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stop = stop
        self._notifier = notifier
        self._heartbeat = heartbeat
        self._hung_after_s = hung_after_s
        self._status_line = status_line
        self._clock = clock
        # Loop thread -> last progress; a loop leaves it when it ends (its source ended).
        self._progress: dict[threading.Thread, float] = {}
        self._status = ""

    def mark(self) -> None:
        """The calling loop made progress now."""
        self._progress[threading.current_thread()] = self._clock()

    def watch(self, thread: threading.Thread) -> None:
        """Watch a loop's thread from now on (call before starting it)."""
        self._progress[thread] = self._clock()

    def forget(self) -> None:
        """The calling loop has ended: done, not hung (the others keep the deterrents armed)."""
        self._progress.pop(threading.current_thread(), None)

    def ready(self) -> None:
        """Tell systemd the appliance runs, with the status line."""
        self._status = self._status_line()
        self._notifier.ready(self._status)
        log.info("running: %s", self._status)

    def run(
        self,
        threads: Sequence[threading.Thread],
        started: float,
        duration_s: float | None,
        on_tick: Callable[[], None],
    ) -> str:
        """Supervise until the stop event is set (then ""), ``duration_s`` after ``started``
        or every loop's thread has ended (then why). ``on_tick`` runs first on each tick."""
        while not self._stop.wait(TICK_S):
            on_tick()
            now = self._clock()
            if duration_s is not None and now - started >= duration_s:
                return "duration reached"
            if not any(t.is_alive() for t in threads):
                return "every source ended"
            self._check(now)
        return ""

    def _check(self, now: float) -> None:
        # Per loop (a thread), not per camera name: a healthy twin must not hide a hung one.
        progress = list(self._progress.items())
        # The bank judges from the slowest loop's own last progress: the deterrents go off
        # hung_after_s after it, not that plus the time it took to notice here.
        oldest = min((at for _, at in progress), default=now)
        self._heartbeat(round(oldest * 1e9))
        stale = [t.name for t, at in progress if now - at > self._hung_after_s]
        if stale:
            # systemd's watchdog, no longer fed, restarts the service.
            log.error("loop(s) %s made no progress for %.0f s", ", ".join(stale),
                      self._hung_after_s)
            return
        self._notifier.watchdog()
        self._update_status()

    def _update_status(self) -> None:
        line = self._status_line()
        if line != self._status:
            self._status = line
            self._notifier.status(line)
            log.info("%s", line)
