"""The safety rules of the deterrents, all in one place.

1. At start every pin is driven inactive (``initial_value`` off; HIGH for an active-low relay).
2. A burst that has started is never restarted or extended by later detections.
3. After a burst a device rests ``min_rest_s`` before it may fire again.
4. No burst outlives ``max_on_s``: the configuration refuses a pattern longer than that, and the
   :class:`SafetyGuard` forces off any burst that overruns it anyway (a stuck thread).
5. A device found on outside a burst on two checks in a row is forced off.
6. When the loop stops sending heartbeats for ``hung_after_s`` everything goes off and stays off
   (firing is refused) until heartbeats resume.
7. ``all_off`` takes no lock, so a signal handler, an ``except`` block or any thread may call it.

Rules 1, 2, 3 and 7 are applied by the bank through :func:`refusal` and the deterrents' own
lock-free stop; 4, 5 and 6 by the guard thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from gpiozero.threads import GPIOThread

from actuators.deterrent import NS_PER_S, Deterrent

log = logging.getLogger(__name__)


def refusal(device: Deterrent, now_ns: int) -> str | None:
    """Why ``device`` may not start a burst now, or ``None`` when it may."""
    if device.bursting:
        return "already on: a burst is in progress"
    if device.rest_until_ns is not None and now_ns < device.rest_until_ns:
        return f"resting: {(device.rest_until_ns - now_ns) / NS_PER_S:.1f} s left"
    return None


class SafetyGuard:
    """A background thread that enforces rules 4, 5 and 6 of this module.

    It wakes every ``tick_s`` (real time) and judges by ``clock`` (nanoseconds), which tests may
    drive by hand. The hung watch starts with the first :meth:`heartbeat`, so building the
    appliance (loading models can take a while) is not mistaken for a hang.
    """

    def __init__(self, devices: Sequence[Deterrent], all_off: Callable[[], None], *,
                 hung_after_s: float, clock: Callable[[], int] = time.monotonic_ns,
                 tick_s: float | None = None) -> None:
        self._devices = tuple(devices)
        self._all_off = all_off
        self._clock = clock
        self._hung_ns = round(hung_after_s * NS_PER_S)
        self._tick_s = tick_s if tick_s is not None else min(0.05, hung_after_s / 5)
        self._last_beat_ns: int | None = None
        self._hung = False
        self._stray: set[str] = set()
        self._thread = GPIOThread(self._watch, name="deterrent-guard")

    @property
    def hung(self) -> bool:
        """Whether the loop is judged hung (everything held off)."""
        return self._hung

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def heartbeat(self, at_ns: int | None = None) -> None:
        """The loop made progress, now or at ``at_ns`` (this guard's clock). Cheap: one clock
        read and two stores."""
        now = self._clock()
        self._last_beat_ns = now if at_ns is None else at_ns
        if self._hung and now - self._last_beat_ns <= self._hung_ns:
            self._hung = False
            log.warning("heartbeats resumed: deterrents may fire again")

    def close(self) -> None:
        """Stop the thread. Idempotent."""
        if self._thread.is_alive():
            self._thread.stop()

    def _watch(self) -> None:
        while not self._thread.stopping.wait(self._tick_s):
            try:
                self.check()
            except Exception:  # the guard must outlive any one bad check
                log.exception("deterrent safety check failed")

    def check(self) -> None:
        """One pass over the rules (the thread calls this every tick)."""
        now = self._clock()
        beat = self._last_beat_ns
        if beat is not None and now - beat > self._hung_ns:
            if not self._hung:
                self._hung = True
                log.error("no heartbeat from the loop for %.1f s: every deterrent off until it "
                          "resumes", (now - beat) / NS_PER_S)
            self._all_off()
            return
        for device in self._devices:
            self._check_device(device, now)

    def _check_device(self, device: Deterrent, now: int) -> None:
        started = device.burst_started_ns
        if started is not None and now - started > device.max_on_ns:
            if device.burst_started_ns == started:  # not a new burst since we looked
                log.error("%s: burst past max_on_s (%.1f s): forced off", device.name,
                          device.max_on_ns / NS_PER_S)
                device.force_off()
            return
        # Active with no burst, twice in a row (once could be a burst starting as we look).
        if device.is_active and device.burst_started_ns is None:
            if device.name in self._stray:
                log.error("%s: on outside a burst: forced off", device.name)
                device.force_off()
                self._stray.discard(device.name)
            else:
                self._stray.add(device.name)
        else:
            self._stray.discard(device.name)
