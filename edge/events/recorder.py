"""The pipeline loop's only contact with disk: hand an event over and return at once.

:meth:`Recorder.submit` copies the images it keeps (or takes them over, with ``copy=False``) and
appends to an in-memory queue; a writer thread writes the event to the log (durably) first, then
archives the images and completes the row, which wakes the reporters: a kill at any point keeps
the event, at worst without images. When the writer falls behind (a slow card), at most
``max_pending_images`` events keep their images: later ones are queued **without** their images
(counted in ``dropped_images`` and logged), so memory stays bounded and no event is ever
dropped, only pictures. Events themselves are a few hundred bytes each.

Example::

    recorder = Recorder(EventLog(state / "events.sqlite3"), Archive(state / "archive", cfg))
    recorder.start()
    recorder.submit(event, frame.image, {"mobilenet": crop_rgb})   # returns in microseconds
    recorder.close()                                               # drains, then stops

Answers that come after the decision (shadow and canary models, late critical models) join an
event here, not in the loop: an event submitted with a ``ticket`` (its crop's, from the
rendezvous) gets them from ``complete(ticket)`` (``Rendezvous.late_answers``) on the writer
thread just before it is written, which may wait a bounded time for them. The event is still
written once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.event import Event
from edge.events.archive import Archive
from edge.events.errors import ArchiveError, EventLogError, RecorderClosed
from edge.events.log import EventLog

if TYPE_CHECKING:  # the classifier's module is heavy; only its type is needed here
    from classifier.rendezvous import LateAnswers

logger = logging.getLogger(__name__)

_RETRY_S = (0.05, 0.2, 1.0, 5.0)
_CLOSE_GIVE_UP_S = 10.0


@dataclass(slots=True)
class _Pending:
    event: Event
    snapshot: np.ndarray | None
    crops: dict[str, np.ndarray]
    ticket: int | None = None
    # An update of an event queued earlier: applied to it, then its row is updated.
    change: Callable[[Event], None] | None = None


def _own(array: np.ndarray, copy: bool) -> np.ndarray:
    return np.array(array, copy=True) if copy else array


class Recorder:
    """Archives images and logs events on its own thread; never blocks the caller.

    ``log`` is the event log, or a callable that opens it: when that fails (a full disk at
    start), the appliance still guards; events wait in memory (at most ``max_held_events``,
    then the oldest that fired nothing goes first) while the writer tries again, and are
    written, in order, once the log opens; ``on_open(log)`` is called then, on the writer's
    thread. :attr:`problem` says why events are not being kept, or is None.
    """

    def __init__(self, log: EventLog | Callable[[], EventLog], archive: Archive | None, *,
                 max_pending_images: int = 8, max_held_events: int = 5000,
                 complete: Callable[[int], LateAnswers | None] | None = None,
                 on_open: Callable[[EventLog], None] | None = None) -> None:
        self.log: EventLog | None = None
        self.problem: str | None = None
        self.max_held_events = max_held_events
        self._opener: Callable[[], EventLog] | None = None
        self._on_open = on_open
        if isinstance(log, EventLog):
            self.log = log
        else:
            self._opener = log
            self._try_open()
        self.dropped_events = 0
        self._gave_up = False
        self.complete = complete
        self.archive = archive
        self.max_pending_images = max_pending_images
        self.dropped_images = 0
        self.written = 0
        self._queue: deque[_Pending] = deque()
        self._with_images = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Let go of rows a killed writer left waiting for their images, then start the
        writer thread."""
        if self._thread is None:
            if self.log is not None:
                self._release(self.log)
            self._thread = threading.Thread(target=self._run, name="event-recorder", daemon=True)
            self._thread.start()

    def submit(self, event: Event, snapshot_bgr: np.ndarray | None,
               crops: dict[str, np.ndarray], *, ticket: int | None = None,
               copy: bool = True) -> None:
        """Queue ``event`` with its images and return.

        With ``copy`` (the default) the images are copied and the caller keeps its arrays.
        ``copy=False`` hands them over: the caller must never change them afterwards. The
        pipeline does so, as its episode already holds private copies, which saves copying a
        full frame (2.7 MB at 1280x720) on the loop's thread for every event.

        ``ticket`` (the rendezvous' id of the event's crop) has ``complete`` add the answers
        that came after the decision before the event is written."""
        with self._cond:
            if self._closing:
                raise RecorderClosed(f"event at {event.start_time} submitted after close()")
            keep = self.archive is not None and self._with_images < self.max_pending_images
            has_images = snapshot_bgr is not None or bool(crops)
            if keep and has_images:
                snapshot = None if snapshot_bgr is None else _own(snapshot_bgr, copy)
                item = _Pending(event, snapshot,
                                {name: _own(a, copy) for name, a in crops.items()})
                self._with_images += 1
            else:
                item = _Pending(event, None, {})
                if has_images and self.archive is not None:
                    self._drop_images(event)
            item.ticket = ticket
            self._hold(item)
            self._cond.notify()

    def update(self, event: Event, change: Callable[[Event], None]) -> None:
        """Queue a later change of an event submitted earlier (its clip, its outcome): on the
        writer thread, after the event itself is written, ``change(event)`` runs and the event's
        row is updated (:meth:`EventLog.update`), which tells the reporters. Never blocks."""
        with self._cond:
            if self._closing:
                raise RecorderClosed(f"update of event at {event.start_time} after close()")
            self._hold(_Pending(event, None, {}, change=change))
            self._cond.notify()

    def _try_open(self) -> None:
        assert self._opener is not None
        try:
            self.log = self._opener()
        except EventLogError as exc:
            self.problem = f"events are not being kept: {exc}"
            logger.critical("recorder: %s; guarding on, events wait in memory (at most %d) "
                            "until it can be written", self.problem, self.max_held_events)

    def _log_now(self) -> EventLog:
        """The event log, opened now if it could not be before; EventLogError if not yet."""
        if self.log is not None:
            return self.log
        assert self._opener is not None
        log = self._opener()  # raises EventLogError while the disk still refuses it
        self._release(log)
        self.log = log
        logger.warning("recorder: the event log opened; writing the %d event(s) held in "
                       "memory", self.pending())
        if self._on_open is not None:
            self._on_open(log)
        return log

    @staticmethod
    def _release(log: EventLog) -> None:
        released = log.release_pending()
        if released:
            logger.warning("recorder: %d event(s) whose images were being written when the "
                           "appliance stopped are kept without them", released)

    def _hold(self, item: _Pending) -> None:
        # Called with the lock held. The event being written (the first) stays; beyond the
        # limit, the oldest event that fired nothing makes room, else the oldest.
        self._queue.append(item)
        if len(self._queue) <= self.max_held_events:
            return
        waiting = list(self._queue)[1:]
        gone = next((p for p in waiting if not p.event.deterrents), waiting[0])
        self._queue.remove(gone)
        if gone.snapshot is not None or gone.crops:
            self._with_images -= 1
        self.dropped_events += 1
        logger.critical("recorder: more than %d events wait for the event log; this one is "
                        "dropped, here in full: %s", self.max_held_events, gone.event.to_dict())

    def _drop_images(self, event: Event) -> None:
        # Called with the lock held: only count here; the message is cheap and rate-limited.
        self.dropped_images += 1
        if self.dropped_images in (1, 10, 100) or self.dropped_images % 1000 == 0:
            logger.warning("recorder: the writer is behind; event at %.3f kept without its images "
                        "(%d so far)", event.start_time, self.dropped_images)

    def pending(self) -> int:
        """Events queued and not yet in the log."""
        with self._cond:
            return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                item = self._queue[0]
            self._write(item)
            with self._cond:
                self._queue.popleft()
                if item.snapshot is not None or item.crops:
                    self._with_images -= 1

    def _write(self, item: _Pending) -> None:
        if item.change is not None:
            self._update(item)
            return
        # The row first, before anything slower (late answers, images): a kill after this
        # keeps the event, at worst without its pictures.
        late = self.complete is not None and item.ticket is not None
        images = self.archive is not None and (item.snapshot is not None or bool(item.crops))
        pending = late or images
        if not self._durably("write", lambda: self._log_now().append(item.event, pending=pending),
                             item.event):
            return
        self.written += 1
        if not (late or images):
            return
        if late:
            self._add_late_answers(item)
        if images:
            self._archive(item)
        self._durably("complete", lambda: self._log_now().finish(item.event), item.event)

    def _update(self, item: _Pending) -> None:
        event, change = item.event, item.change
        assert change is not None
        if event.id is None:  # its row was never written (given up at shutdown)
            logger.warning("recorder: update of event at %.3f dropped: the event was not "
                           "written", event.start_time)
            return
        try:
            change(event)
        except Exception:  # a bad change must not stop the writer
            logger.exception("recorder: update of event %d failed", event.id)
            return
        self._durably("update", lambda: self._log_now().update(event), event)

    def _add_late_answers(self, item: _Pending) -> None:
        assert self.complete is not None and item.ticket is not None
        try:
            answers = self.complete(item.ticket)
        except Exception:  # the event matters more than the late answers
            logger.exception("recorder: late answers of event at %.3f not added",
                             item.event.start_time)
            return
        if answers is not None:
            item.event.scores.update(answers.scores)
            item.event.decision.update(answers.decision)

    def _durably(self, what: str, step: Callable[[], object], event: Event) -> bool:
        """Run a log write until it succeeds (retrying while running); False if given up."""
        attempt = 0
        give_up_at: float | None = None
        while True:
            try:
                step()
                self.problem = None
                return True
            except EventLogError as exc:
                delay = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
                attempt += 1
                self.problem = f"events are not being kept: {exc}"
                logger.error("recorder: cannot %s event (attempt %d, retrying in %.2f s): %s",
                             what, attempt, delay, exc)
                give_up_at = self._closing_deadline(give_up_at, delay)
                if self._gave_up or (give_up_at is not None and give_up_at <= 0):
                    # Past the deadline at shutdown: the journal keeps every event still held.
                    self._gave_up = True
                    logger.critical("recorder: event not %sd at shutdown, here in full: %s",
                                    what, event.to_dict())
                    return False
                with self._cond:  # a close() wakes this early; the retry is just sooner
                    self._cond.wait(delay)

    def _closing_deadline(self, left: float | None, spent: float) -> float | None:
        # Keep retrying while running; once closing, give up after _CLOSE_GIVE_UP_S.
        with self._cond:
            if not self._closing:
                return None
        return (_CLOSE_GIVE_UP_S if left is None else left) - spent

    def _archive(self, item: _Pending) -> None:
        assert self.archive is not None
        try:
            saved = self.archive.save(item.event.camera, item.event.start_time,
                                      item.snapshot, item.crops)
        except (ArchiveError, OSError, ValueError) as exc:
            # The event is what matters: log it without pictures rather than not at all.
            logger.error("recorder: images of event at %.3f not archived: %s",
                      item.event.start_time, exc)
            return
        item.event.snapshot = saved.snapshot
        item.event.crops = saved.crops

    def close(self) -> None:
        """Write every queued event, then stop the thread; idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        elif self._queue:
            self._run()  # never started: write what was submitted, on this thread

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
