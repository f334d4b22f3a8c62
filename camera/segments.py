"""Motion over time: frames with motion grouped into segments (for tuning and summaries).

Example::

    tracker = SegmentTracker(gap_s=1.0)
    for t, motion in timeline:
        for segment in tracker.add(t, motion, frame_s=0.1):  # a list, usually empty
            print(segment.as_dict())
    for segment in tracker.finish():
        print(segment.as_dict())
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from camera.box import Box
from camera.motion import Motion


@dataclass
class Segment:
    """A stretch of motion: from the first moving frame to the end of the last one."""

    start_s: float
    end_s: float
    peak_area: float = 0.0
    boxes: tuple[Box, ...] = ()  # at the frame of peak area
    frames: int = 0  # frames with motion

    def add(self, t_s: float, motion: Motion, frame_s: float) -> None:
        """Extend the segment with a moving frame shown at ``t_s`` for ``frame_s`` seconds."""
        self.end_s = t_s + frame_s
        self.frames += 1
        if motion.area >= self.peak_area:
            self.peak_area = motion.area
            self.boxes = motion.boxes

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times in seconds, ``peak_area`` a fraction of the frame."""
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "peak_area": round(self.peak_area, 4),
            "frames": self.frames,
            "boxes": [b.as_list() for b in self.boxes],
        }


@dataclass
class SegmentTracker:
    """Groups moving frames into segments; a pause shorter than ``gap_s`` does not split one."""

    gap_s: float = 1.0
    _open: Segment | None = field(default=None, init=False)

    def add(self, t_s: float, motion: Motion, frame_s: float) -> list[Segment]:
        """Feed one frame; returns the segment a pause longer than ``gap_s`` has just ended."""
        ended: list[Segment] = []
        if self._open is not None and t_s - self._open.end_s > self.gap_s:
            ended = self.finish()
        if motion.moving:
            if self._open is None:
                self._open = Segment(t_s, t_s + frame_s)
            self._open.add(t_s, motion, frame_s)
        return ended

    def finish(self) -> list[Segment]:
        """The segment still open (at the end of the video), if any."""
        segment, self._open = self._open, None
        return [segment] if segment is not None else []
