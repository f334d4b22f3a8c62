"""Events that are never lost: the SQLite event log, the recorder, the archive, the reporters.

The pipeline hands each event to :class:`Recorder` (which returns at once); the recorder
archives the images and writes the event to the :class:`EventLog`; each reporter (MQTT, X)
delivers from its own cursor in that log on its own thread (:func:`start_reporters`).
"""

from __future__ import annotations

from edge.events.archive import Archive, ArchivedEvent, SavedImages
from edge.events.errors import (
    ArchiveError,
    ArchiveFull,
    DeliveryError,
    EventLogError,
    EventRejected,
    EventsError,
    RecorderClosed,
    SinkStopped,
)
from edge.events.log import EventLog, SinkStatus
from edge.events.recorder import Recorder
from edge.events.reporters import ReporterSet, start_reporters

__all__ = [
    "Archive", "ArchiveError", "ArchiveFull", "ArchivedEvent", "DeliveryError", "EventLog",
    "EventLogError", "EventRejected", "EventsError", "Recorder", "RecorderClosed",
    "ReporterSet", "SavedImages", "SinkStatus", "SinkStopped", "start_reporters",
]
