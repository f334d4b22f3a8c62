"""The errors of the event log, the archive and the reporters.

Each inherits :class:`EventsError` and the builtin it resembles, so callers can catch either
(``except OSError`` still catches a full archive).
"""

from __future__ import annotations


class EventsError(Exception):
    """The root of every error raised by ``edge.events``."""


class EventLogError(EventsError, OSError):
    """The SQLite event log cannot be opened or written."""


class ArchiveError(EventsError, OSError):
    """A snapshot or a model input could not be archived."""


class ArchiveFull(ArchiveError):
    """Writing would leave less free space than ``archive.min_free_mb``, even after retention."""


class RecorderClosed(EventsError, RuntimeError):
    """An event was submitted after :meth:`Recorder.close`."""


class DeliveryError(EventsError, ConnectionError):
    """A reporter could not deliver now; the same event is tried again later.

    ``retry_at`` (Unix seconds) is set when the far end said when to come back (HTTP 429);
    otherwise the reporter backs off exponentially.
    """

    def __init__(self, message: str, *, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class EventRejected(EventsError, ValueError):
    """The far end refused this one event for good (a duplicate, a malformed post): skip it."""


class SinkStopped(EventsError, PermissionError):
    """The far end refuses us for good (bad credentials, no credits): stop this reporter."""
