"""A courier: one thread that delivers the event log to one sink from the sink's own cursor.

At least once and in order: the cursor moves only after the sink says an event is delivered
(for MQTT, after the broker's PUBACK), so a crash re-sends at most the event in flight. A
failing sink is retried with exponential backoff (or at the time the far end gave), its error
is logged and stored in the log for ``doctor``, and, being on its own thread, it holds back no
other sink and never the pipeline.

A sink is any object with ``name``, ``open(wake)``, ``deliver(event)``, ``service()`` and
``close()`` (see :class:`Sink`). A sink that also has ``deliver_update(event)`` is given each
later change of an event it delivered (its clip, its outcome: :meth:`EventLog.update`), at least
once and in order, from a cursor of its own.
A sink signals with exceptions: :class:`DeliveryError` (try the same event again later),
:class:`EventRejected` (skip this event) and :class:`SinkStopped` (give up until restarted).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from edge.event import Event
from edge.events.errors import DeliveryError, EventRejected, SinkStopped
from edge.events.log import EventLog

logger = logging.getLogger(__name__)

_BATCH = 100
_LOG_REPEAT_S = 300.0
_JOIN_S = 15.0


class Sink(Protocol):
    """Where a courier delivers events. Every method runs on the courier's thread."""

    name: str

    def open(self, wake: Callable[[], None]) -> None:
        """Get ready (connect in the background); ``wake()`` makes the courier look again."""

    def deliver(self, event: Event) -> None:
        """Deliver one event, returning only once it is delivered."""

    def service(self) -> None:
        """Periodic work (commands, announcements, digests); raise DeliveryError when down."""

    def close(self) -> None:
        """Let go of connections; called once, on the courier's thread."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``initial`` doubled per failure, at most ``maximum`` seconds."""

    initial: float = 1.0
    maximum: float = 300.0

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row (1-based)."""
        return float(min(self.maximum, self.initial * 2 ** max(0, failures - 1)))


class Courier:
    """Runs one sink on its own thread until ``stop`` is set or :meth:`close` is called.

    ``clock`` (Unix seconds) and ``sleep`` are injectable; the default sleep waits on the
    courier's wake event in short slices, so a stop or a new event ends it at once.
    """

    def __init__(self, sink: Sink, log: EventLog, stop: threading.Event, *,
                 backoff: Backoff | None = None, poll_s: float = 0.5,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.sink = sink
        self.log = log
        self.backoff = backoff or Backoff()
        self.poll_s = poll_s
        self._stop = stop
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._clock = clock
        self._sleep = sleep or self._wait
        self._failures = 0
        self._stale_status = True  # a previous run may have left a failure in the log
        self._logged_error: tuple[str, float] | None = None
        self._thread: threading.Thread | None = None
        log.subscribe(self.wake)

    @property
    def name(self) -> str:
        """The sink's name (its cursor's name in the log)."""
        return self.sink.name

    @property
    def stopping(self) -> bool:
        """True once the app stops or this courier is closed."""
        return self._stop.is_set() or self._closing.is_set()

    def wake(self) -> None:
        """Look at the log (and the sink) now."""
        self._wake.set()

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self.run, name=f"reporter-{self.name}",
                                        daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        """The thread runs (false once stopped, also after SinkStopped)."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop and join the thread (a delivery in flight may finish first); idempotent."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(_JOIN_S)
            if self._thread.is_alive():
                logger.warning("reporter %s: still busy after %.0f s; left to finish on its own",
                            self.name, _JOIN_S)

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0 or self._wake.wait(min(left, self.poll_s)):
                break
        self._wake.clear()

    def run(self) -> None:
        """The thread's body: open, deliver until stopped, close."""
        self.log.report_stopped(self.name, None)
        try:
            if self._open():
                self._loop()
        except SinkStopped as exc:
            self._stopped(exc)
        finally:
            self._close_sink()

    def _open(self) -> bool:
        while not self.stopping:
            try:
                self.sink.open(self.wake)
                return True
            except SinkStopped:
                raise  # a PermissionError, so an OSError: not one to retry
            except (DeliveryError, OSError) as exc:
                self._failed(exc)
        return False

    def _loop(self) -> None:
        while not self.stopping:
            try:
                delivered_any = self.step()
            except SinkStopped:
                raise
            except Exception as exc:  # a bug in a sink must not end its deliveries silently
                self._failed(exc)
                continue
            if not delivered_any:
                self._sleep(self.poll_s)

    def step(self) -> bool:
        """One pass: service the sink, deliver what is waiting. True if anything was sent."""
        self.sink.service()
        events = self.log.after(self.log.cursor(self.name), _BATCH)
        for event in events:
            if self.stopping:
                break
            self._deliver(event)
        updates = self._deliver_updates()
        self._recovered()
        return bool(events) or updates

    def _deliver(self, event: Event) -> None:
        assert event.id is not None
        try:
            self.sink.deliver(event)
        except EventRejected as exc:
            logger.warning("reporter %s: event %d skipped: %s", self.name, event.id, exc)
        self.log.advance(self.name, event.id)

    def _deliver_updates(self) -> bool:
        deliver = getattr(self.sink, "deliver_update", None)
        if deliver is None:
            return False
        cursor = self.log.cursor(self.name)
        updates = self.log.updates_after(self.name, _BATCH)
        for seq, event in updates:
            if self.stopping:
                break
            # An event not delivered yet will carry the change itself when it goes.
            if event.id is not None and event.id <= cursor:
                deliver(event)
            self.log.advance_updates(self.name, seq)
        return bool(updates)

    def _recovered(self) -> None:
        if self._failures or self._stale_status:
            if self._logged_error:
                logger.info("reporter %s: working again", self.name)
            self.log.report_ok(self.name)
            self._failures = 0
            self._stale_status = False
            self._logged_error = None

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        now = self._clock()
        message = str(exc) or type(exc).__name__
        self.log.report_failure(self.name, message, now)
        retry_at = getattr(exc, "retry_at", None)
        delay = retry_at - now if retry_at is not None else self.backoff.delay(self._failures)
        self._log_failure(exc, message, max(0.0, delay), now, retry_at)
        if retry_at is None:
            self._sleep(max(0.0, delay))
        else:
            self._sleep_until(retry_at)

    def _sleep_until(self, when: float) -> None:
        # The far end said when to come back (X's 429): a new event wakes the courier, but
        # must not make it knock again before then; only a stop ends this wait early.
        while not self.stopping:
            left = when - self._clock()
            if left <= 0:
                return
            self._sleep(left)

    def _log_failure(self, exc: BaseException, message: str, delay: float, now: float,
                     retry_at: float | None = None) -> None:
        # Log the first failure and any new error; repeat an unchanged one every few minutes.
        last = self._logged_error
        if last and last[0] == message and now - last[1] < _LOG_REPEAT_S:
            return
        self._logged_error = (message, now)
        expected = isinstance(exc, DeliveryError | OSError)
        when = (f"retrying at {datetime.fromtimestamp(retry_at):%Y-%m-%d %H:%M:%S} "
                f"(in {delay:.0f} s)" if retry_at is not None else f"retrying in {delay:.0f} s")
        logger.log(logging.WARNING if expected else logging.ERROR,
                "reporter %s: delivery failed (%d in a row), %s: %s",
                self.name, self._failures, when, message, exc_info=not expected)

    def _stopped(self, exc: SinkStopped) -> None:
        logger.error("reporter %s: stopped until restarted: %s", self.name, exc)
        self.log.report_stopped(self.name, str(exc))

    def _close_sink(self) -> None:
        try:
            self.sink.close()
        except Exception:
            logger.exception("reporter %s: error while closing", self.name)
