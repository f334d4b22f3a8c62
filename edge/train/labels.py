"""The owner's labels for archived crops: ``<state_dir>/labels.csv``, rewritten atomically.

Each archived event (``edge/events/archive.py``) keeps the exact square every model saw. The
owner looks at them (``tensorchicken label``), says what each really is, and ``train
--from-archive`` learns from those answers. An event is named by its folder relative to the
archive root (``2026-05-01/211403.250117_coop``), which is stable for as long as the event is
kept. The file is small and rewritten whole on each change, through a temporary file, fsync and
rename, so a power cut leaves the old labels or the new ones, never half of either.

Example::

    store = LabelStore(state_dir / LABELS_FILE)
    store.set("2026-05-01/211403.250117_coop", "chicken", subclass="plymouth_rock")
    store.read()["2026-05-01/211403.250117_coop"].label          # "chicken"
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier import Verdict
from edge.event import Event
from edge.events.archive import Archive, ArchivedEvent, write_atomic
from edge.events.errors import ArchiveError, EventLogError
from edge.events.log import EventLog
from edge.train.dataset import Photo, make_photo
from edge.train.errors import LabelError

log = logging.getLogger(__name__)

LABELS_FILE = "labels.csv"
COLUMNS = ("event", "label", "subclass", "labelled_at")
VERDICTS = tuple(v.value for v in Verdict)


@dataclass(frozen=True, slots=True)
class Correction:
    """The owner's label for one archived event."""

    event: str
    label: str
    subclass: str
    labelled_at: float


class LabelStore:
    """``labels.csv``: one row per labelled event. Not for concurrent writers (one owner)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock

    def read(self) -> dict[str, Correction]:
        """Every label by event; LabelError naming the line of a malformed row."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise LabelError(f"{self.path}: cannot read the labels: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise LabelError(f"{self.path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                             f"at offset {exc.start}); fix or remove it") from None
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise LabelError(f"{self.path}: expected the columns {','.join(COLUMNS)}")
        found = {}
        for line, row in enumerate(reader, start=2):
            found[row["event"]] = _correction(self.path, line, row)
        return found

    def set(self, events: Sequence[str], label: str, subclass: str = "") -> None:
        """Record ``label`` (and ``subclass``) for each of ``events``."""
        if label not in VERDICTS:
            raise LabelError(f"label {label!r} is not one of {', '.join(VERDICTS)}")
        if not subclass.isprintable():  # a newline would break every listing of the labels
            raise LabelError(f"subclass {subclass!r}: one line of printable text, please")
        labels = self.read()
        now = self._clock()
        for event in events:
            labels[event] = Correction(event, label, subclass.strip(), now)
        self._write(labels)

    def remove(self, events: Sequence[str]) -> int:
        """Forget the labels of ``events``; how many there were."""
        labels = self.read()
        gone = [e for e in events if labels.pop(e, None) is not None]
        if gone:
            self._write(labels)
        return len(gone)

    def _write(self, labels: dict[str, Correction]) -> None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for c in sorted(labels.values(), key=lambda c: c.event):
            writer.writerow((c.event, c.label, c.subclass, f"{c.labelled_at:.3f}"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(self.path, out.getvalue().encode("utf-8"))
        except ArchiveError as exc:
            raise LabelError(str(exc)) from None


def _correction(path: Path, line: int, row: dict[str, str]) -> Correction:
    label = row["label"]
    if label not in VERDICTS:
        raise LabelError(f"{path}:{line}: label {label!r} is not one of {', '.join(VERDICTS)}")
    try:
        when = float(row["labelled_at"] or 0)
    except ValueError:
        raise LabelError(f"{path}:{line}: labelled_at {row['labelled_at']!r} is not a time"
                         ) from None
    return Correction(row["event"], label, row["subclass"] or "", when)


@dataclass(frozen=True, slots=True)
class ArchivedCrop:
    """One archived event's crop, what the appliance said about it, and the owner's label."""

    event: str
    crop: Path
    time: float
    verdict: str
    label: str
    correction: Correction | None
    event_id: int | None = None  # its number in the event log (as ``events`` shows it)


def event_ref(archive: Archive, entry: ArchivedEvent) -> str:
    """The stable name of an archived event: its folder relative to the archive root."""
    return entry.path.relative_to(archive.root).as_posix()


def crop_of(entry: ArchivedEvent) -> Path | None:
    """The event's model input (every model saw the same square; the first file is taken)."""
    crops = [f for f in entry.files if f.name.startswith("crop_")]
    return crops[0] if crops else None


def logged_verdicts(log_path: Path) -> dict[str, Event]:
    """Logged events by the name of their crops' archive folder (``day/folder``, as
    :func:`event_ref` names it), none when there is no event log. By name, not by absolute
    path: a state folder copied or moved elsewhere still finds its events."""
    try:
        with EventLog(log_path, readonly=True) as event_log:
            events = event_log.list()
    except EventLogError:
        return {}
    by_folder = {}
    for event in events:
        for crop in event.crops.values():
            by_folder["/".join(Path(crop).parent.parts[-2:])] = event
    return by_folder


def archived_crops(archive: Archive, labels: LabelStore, log_path: Path) -> list[ArchivedCrop]:
    """Every archived event that has a crop, oldest first, with its verdict and label."""
    corrections = labels.read()
    events = logged_verdicts(log_path)
    found = []
    for entry in archive.entries():
        crop = crop_of(entry)
        if crop is None:
            continue
        ref = event_ref(archive, entry)
        logged = events.get(ref)
        found.append(ArchivedCrop(
            event=ref, crop=crop, time=entry.time,
            verdict=logged.verdict if logged else "?", label=logged.label if logged else "",
            correction=corrections.get(ref), event_id=logged.id if logged else None,
        ))
    return found


def resolve_events(crops: Sequence[ArchivedCrop], names: Sequence[str]) -> list[str]:
    """Event references for ``names``: an event number as ``tensorchicken events`` prints it
    (``41`` or ``#41``), a full reference, or a unique folder name."""
    refs = {c.event for c in crops}
    by_id = {c.event_id: c.event for c in crops if c.event_id is not None}
    resolved = []
    for name in names:
        name = name.strip().rstrip("/")
        number = name.removeprefix("#")
        if number.isdigit():
            if int(number) not in by_id:
                raise LabelError(f"event {number} has no archived crop (not in this state "
                                 "folder, or pruned); 'tensorchicken label list' shows those "
                                 "that have one")
            resolved.append(by_id[int(number)])
            continue
        matches = [name] if name in refs else [r for r in refs if r.split("/")[-1] == name]
        if len(matches) != 1:
            problem = "matches several events" if matches else "is not an archived event"
            raise LabelError(f"{name!r} {problem}; use the number 'tensorchicken events' shows "
                             "or the name 'tensorchicken label list' shows")
        resolved.append(matches[0])
    return resolved


def labelled_photos(crops: Sequence[ArchivedCrop]) -> list[Photo]:
    """The owner-labelled crops as training photos (unlabelled ones are not used)."""
    return [
        make_photo(c.crop, c.correction.label, c.correction.subclass, f"archive:{c.event}",
                   exact=True)
        for c in crops if c.correction is not None
    ]
