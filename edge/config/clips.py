"""How each event's clip is kept, and how long a firing's outcome is watched."""

from __future__ import annotations

from pydantic import Field

from groundwork.section import Section


class ClipsConfig(Section):
    """A clip per event, from ``pre_s`` before the visit's first frame to ``post_s`` after the
    firing (or the visit's end), beside the event's snapshot in the archive.

    The pre-roll is kept in memory as JPEG, ``width`` pixels wide, at most ``fps`` frames a
    second and ``preroll_max_mb`` in all (whichever comes first)."""

    enabled: bool = Field(True, description="Keep a clip of every event in the archive")
    pre_s: float = Field(3.0, ge=0, le=30, description="Seconds kept before a visit's first frame")
    post_s: float = Field(3.0, ge=0, le=60, description="Seconds kept after a firing")
    fps: float = Field(5.0, gt=0, le=30, description="Frames a second in a clip, at most")
    width: int = Field(640, ge=64, le=1920, description="Clip width in pixels (height follows)")
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of pre-roll frames")
    preroll_max_mb: float = Field(30.0, gt=0, le=512,
                                  description="Memory the pre-roll of one camera may use")
    max_s: float = Field(120.0, ge=5, le=1800,
                         description="A clip ends after this long even if its visit does not")


class OutcomeConfig(Section):
    """After a firing the camera is watched for what the animal does."""

    stay_s: float = Field(5.0, ge=0, le=600,
                          description="Still moving this long after the burst ended: it stayed")
    return_s: float = Field(300.0, ge=0, le=86400,
                            description="A predator visit this soon after it left: it returned")
    watch_max_s: float = Field(1800.0, ge=10, le=86400,
                               description="Decide the outcome after this long at the latest")
