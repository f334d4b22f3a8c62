"""One camera's capture thread, its frame ring and its watchdog.

The capture thread reads the source as fast as it delivers and copies each frame into a
preallocated :class:`~camera.ring.FrameRing`; the pipeline loop takes the newest frame with
:meth:`Capture.latest` and learns how many it skipped. Nothing queues without bound.

Whatever the source does wrong is logged, counted and survived: an exception from
``read()``, ``None``, a frame of the wrong shape or type, an undecodable file. When no
good frame has come for ``stall_s`` seconds, the watchdog closes the source and opens a
fresh one from the factory, waiting longer after each attempt that brings no frame
(``stall_s``, then twice that, up to a minute). A read that hangs for ever is abandoned
to its thread, which closes its source if it ever returns. Meanwhile :meth:`latest` simply
times out, so the loop keeps running (and keeps reporting health).

A camera that is not there yet at start (an RTSP camera still booting after a power cut, a USB
camera enumerating late) is the same case: ``start(keep_trying=True)`` logs and counts the
failed open and leaves it to the watchdog, which keeps trying with the same backoff. Only a
configuration that can never work (:class:`~camera.errors.SourceConfigError`) still raises.

Example::

    capture = Capture(cfg, lambda: open_source(cfg, store.resolve), stop)
    capture.start()
    seq = 0
    while not stop.is_set():
        got = capture.latest(seq, timeout=1.0)
        if got is None:
            continue
        frame, skipped = got
        seq = frame.seq
    capture.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from camera.config import CameraConfig
from camera.errors import BadFrameError, EndOfStream, SourceConfigError
from camera.frame import Frame
from camera.ring import FrameRing
from camera.source import FrameSource, grey_size

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 60.0
_LOG_EVERY_S = 10.0  # at most one warning per kind of trouble this often
_JOIN_S = 2.0


@dataclass
class CaptureStats:
    """Counters of one capture, for health reports and the benchmark."""

    frames: int  # good frames put into the ring
    skipped: int  # frames the consumer never took
    bad_frames: int  # reads that raised, returned None or a frame of the wrong shape
    reopens: int  # times the watchdog reopened the source
    last_frame_age_s: float  # since the last good frame (or since start)
    ended: bool
    open_failures: int = 0  # opens that failed, at start or on a reopen
    connected: bool = False  # a source is open and its reader running
    last_error: str = ""  # the last failed open or bad frame, in words ("" when none)


class Capture:
    """Reads one camera on a background thread into a frame ring, with a watchdog."""

    def __init__(
        self,
        cfg: CameraConfig,
        source_factory: Callable[[], FrameSource],
        stop: threading.Event,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        # The rate the open source delivers (a replayed file's own); cfg.fps until one opens.
        self.fps = cfg.fps
        self._factory = source_factory
        self._stop = stop
        self._clock = clock
        width, height = grey_size(cfg)
        self.ring = FrameRing(cfg.ring_size, (cfg.height, cfg.width, 3), (height, width))
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._generation = 0
        self._reader: threading.Thread | None = None
        self._readers: list[threading.Thread] = []  # the current one, and any abandoned
        self._watchdog: threading.Thread | None = None
        self._bad_frames = 0
        self._reopens = 0
        self._open_failures = 0
        self._last_error = ""
        self._failures = 0  # reopens in a row that brought no frame
        self._source_ended = False
        self._last_frame = self._last_open = clock()
        self._last_warning: dict[str, float] = {}

    # -- life cycle ------------------------------------------------------------------
    def start(self, *, keep_trying: bool = False) -> None:
        """Open the source and start the capture and watchdog threads.

        A source that cannot be opened raises :class:`CameraError`, unless ``keep_trying``: then
        the failure is logged and counted and the watchdog keeps trying to open it (the
        appliance's way: a camera slower to boot than the Pi must not stop the service). A
        :class:`SourceConfigError` raises either way: no retry can mend a configuration.
        """
        if self._watchdog is not None:
            raise RuntimeError(f"camera {self.cfg.name}: capture already started")
        source = self._open(raise_errors=not keep_trying)
        self._last_frame = self._last_open = self._clock()
        if source is not None:  # else the watchdog retries after stall_s, then backs off
            self._start_reader(source)
        self._watchdog = threading.Thread(
            target=self._watch, name=f"watchdog-{self.cfg.name}", daemon=True
        )
        self._watchdog.start()

    def close(self) -> None:
        """Stop both threads and close the source; idempotent."""
        self._closing.set()
        self.ring.close()
        for thread in [self._watchdog, *self._readers]:
            if thread is not None and thread is not threading.current_thread():
                thread.join(_JOIN_S)
                if thread.is_alive():
                    log.warning("camera %s: %s did not stop (a read is hung)",
                                self.cfg.name, thread.name)

    def _running(self, generation: int) -> bool:
        return (
            generation == self._generation
            and not self._closing.is_set()
            and not self._stop.is_set()
        )

    # -- the consumer's side ---------------------------------------------------------
    def latest(self, after_seq: int, timeout: float) -> tuple[Frame, int] | None:
        """The newest frame with ``seq > after_seq`` and how many frames were skipped since
        ``after_seq``; ``None`` on timeout (or at once when the source has ended and every
        frame was taken). The frame's arrays stay valid until the next call."""
        return self.ring.take(after_seq, timeout)

    @property
    def ended(self) -> bool:
        """A non-looping source reached its end and every frame was taken."""
        return self._source_ended and not self.ring.pending

    @property
    def stats(self) -> CaptureStats:
        """A snapshot of the counters."""
        return CaptureStats(
            frames=self.ring.seq,
            skipped=self.ring.skipped,
            bad_frames=self._bad_frames,
            reopens=self._reopens,
            last_frame_age_s=max(0.0, self._clock() - self._last_frame),
            ended=self.ended,
            open_failures=self._open_failures,
            connected=self.connected,
            last_error=self._last_error,
        )

    @property
    def connected(self) -> bool:
        """Whether a source is open and its reader running (False while the camera is awaited)."""
        reader = self._reader
        return reader is not None and reader.is_alive() and not self._source_ended

    @property
    def waiting(self) -> bool:
        """Whether the camera is awaited: no source open, and not because it ended."""
        return not self._source_ended and not self.connected

    # -- the capture thread ----------------------------------------------------------
    def _start_reader(self, source: FrameSource) -> None:
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._reader = threading.Thread(
            target=self._read_loop, args=(generation, source),
            name=f"capture-{self.cfg.name}-{generation}", daemon=True,
        )
        self._reader.start()
        self._readers = [t for t in self._readers if t.is_alive()] + [self._reader]

    def _read_loop(self, generation: int, source: FrameSource) -> None:
        try:
            while self._running(generation):
                self._read_one(generation, source)
        except EndOfStream as exc:
            log.info("%s", exc)  # the source names its camera
            self._source_ended = True
            self.ring.close()
        finally:
            _close_source(self.cfg.name, source)

    def _read_one(self, generation: int, source: FrameSource) -> None:
        try:
            frame = source.read()
        except EndOfStream:
            raise
        except Exception as exc:  # any backend, any failure: count it and carry on
            self._bad("read", f"{type(exc).__name__}: {exc}")
            return
        if not self._running(generation):
            return  # superseded by a reopen while this read was blocked
        if frame is None:
            self._bad("none", "the source returned no frame")
            return
        try:
            self.ring.put(frame)
        except BadFrameError as exc:
            self._bad("shape", str(exc))
            return
        self._last_frame = self._clock()
        self._failures = 0

    def _bad(self, kind: str, message: str) -> None:
        self._bad_frames += 1
        self._last_error = f"bad frame ({message})"
        now = self._clock()
        if now - self._last_warning.get(kind, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._last_warning[kind] = now
            log.warning("camera %s: bad frame (%s); %d so far", self.cfg.name, message,
                        self._bad_frames)
        # A source that fails at once must not spin a core: pause about a frame interval.
        self._closing.wait(1.0 / self.cfg.fps)

    # -- the watchdog ----------------------------------------------------------------
    def _watch(self) -> None:
        period = min(1.0, self.cfg.stall_s / 4)
        while not self._closing.wait(period) and not self._stop.is_set():
            if self._source_ended:
                return
            quiet = self._clock() - max(self._last_frame, self._last_open)
            ceiling = max(_MAX_BACKOFF_S, self.cfg.stall_s)
            backoff = min(self.cfg.stall_s * 2**self._failures, ceiling)
            if quiet > backoff:
                self._reopen(quiet)

    def _reopen(self, quiet: float) -> None:
        self._reopens += 1
        self._failures += 1
        self._last_open = self._clock()
        log.warning("camera %s: no frame for %.1f s; reopening the source (reopen %d)",
                    self.cfg.name, quiet, self._reopens)
        with self._lock:
            self._generation += 1  # the old reader stops at its next turn and closes its source
        old = self._reader
        if old is not None:
            old.join(min(_JOIN_S, self.cfg.stall_s))  # let it free the device first
        try:
            source = self._open(raise_errors=False)
        except SourceConfigError as exc:  # e.g. a replayed file removed: keep watching
            self._open_failed(exc, raise_errors=False)
            return
        if source is None:
            return
        if not self._closing.is_set():
            self._start_reader(source)
        else:
            _close_source(self.cfg.name, source)

    def _open(self, *, raise_errors: bool) -> FrameSource | None:
        """A freshly opened source, or None when it failed (logged and counted)."""
        try:
            source = self._factory()
        except SourceConfigError:
            raise
        except Exception as exc:
            self._open_failed(exc, raise_errors)
            return None
        try:
            source.open()
        except Exception as exc:
            _close_source(self.cfg.name, source)  # a half-open device must not stay claimed
            self._open_failed(exc, raise_errors)
            return None
        self.fps = source.fps
        return source

    def _open_failed(self, exc: Exception, raise_errors: bool) -> None:
        self._open_failures += 1
        self._last_error = f"cannot open the source ({exc})"
        if raise_errors:
            raise exc
        log.warning("camera %s: cannot open the source (%s); the watchdog keeps trying",
                    self.cfg.name, exc)


def _close_source(name: str, source: FrameSource) -> None:
    try:
        source.close()
    except Exception as exc:
        log.warning("camera %s: closing the source failed: %s", name, exc)
