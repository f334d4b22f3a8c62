"""Cameras, their frame sources and the motion detector's settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from groundwork.section import Section

Point = tuple[float, float]
# The motion settings' older names, in frames, and their names in seconds.
_FRAMES_TO_SECONDS = {"warmup_frames": "warmup_s", "relearn_frames": "relearn_s"}


class MotionConfig(Section):
    """How motion is found on the small grey plane of each frame."""

    width: int = Field(160, ge=32, le=1280, description="Width the grey plane is scaled to (px)")
    blur: int = Field(5, ge=1, le=31, description="Gaussian blur kernel size (odd, px)")
    alpha: float = Field(0.05, gt=0, le=1, description="Background learning rate per frame")
    threshold: int = Field(25, ge=1, le=255, description="Grey-level difference that counts")
    min_area: float = Field(
        0.002, ge=0, le=1, description="Smallest box that counts, as a fraction of the frame"
    )
    min_active: float = Field(
        0.001, ge=0, le=1,
        description="Pixels that changed over the last few frames a box needs (fraction of "
        "the frame): a ghost left where something was, or a slow drift, has none",
    )
    recent_alpha: float = Field(
        0.3, gt=0, le=1,
        description="Learning rate of the short-term reference that min_active is measured "
        "against (higher: only the last frame or two count)",
    )
    dilate: int = Field(2, ge=0, le=10, description="Dilation iterations joining nearby pixels")
    global_change: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Changed fraction above which the light changed: re-learn, don't trigger",
    )
    warmup_s: float = Field(
        1.0, ge=0, le=600,
        description="Seconds from a camera's first frame during which its frames are learnt, "
        "not searched for motion (exposure settles); its first frame always is, and at 1 fps "
        "no other",
    )
    relearn_s: float = Field(
        0.5, ge=0, le=600,
        description="After a light change, seconds learnt before motion counts again "
        "(exposure settles)",
    )
    whole_frame_above: float = Field(
        0.5, gt=0, le=1, description="Motion area above which the whole frame is classified"
    )
    merge_gap: float = Field(
        0.05, ge=0, le=1,
        description="Boxes nearer than this (fraction of the frame) merge into one region",
    )
    max_regions: int = Field(2, ge=1, le=8, description="Most regions cropped per frame")
    region_pad: float = Field(
        0.15, ge=0, le=1, description="Context added around a region on each side (fraction)"
    )
    masks: list[list[Point]] = Field(
        default_factory=list,
        description="Polygons (normalised x,y points) where motion is ignored",
    )

    @model_validator(mode="after")
    def _odd_blur(self) -> MotionConfig:
        if self.blur % 2 == 0:
            raise ValueError(f"blur must be odd, got {self.blur}")
        for polygon in self.masks:
            if len(polygon) < 3:
                raise ValueError("each mask needs at least 3 points")
            if any(not (0 <= x <= 1 and 0 <= y <= 1) for x, y in polygon):
                raise ValueError("mask points are fractions of the frame, 0..1")
        return self


class CameraConfig(Section):
    """One camera and where its frames come from.

    ``kind``: ``picamera2`` (the Pi camera), ``opencv`` (``address``: a USB index such as
    ``0``, an RTSP/HTTP URL, or a video file), ``replay`` (a video file or a folder of photos),
    ``arrivals`` (photos shown over a still background, for the demo and tests).
    An address ``asset:NAME`` names a file from the asset manifest, fetched when missing.
    """

    name: str = Field("coop", pattern=r"^[a-z0-9_-]{1,32}$", description="Camera name")
    kind: Literal["picamera2", "opencv", "replay", "arrivals"] = "replay"
    address: str = Field(
        "asset:intel__one-by-one-person-detection.mp4", description="Device, URL, file or folder"
    )
    width: int = Field(1280, ge=64, le=4608, description="Full-resolution width (px)")
    height: int = Field(720, ge=48, le=3496, description="Full-resolution height (px)")
    fps: float = Field(10.0, gt=0, le=120, description="Frames per second")
    realtime: bool = Field(True, description="Replay at the recorded rate, not as fast as possible")
    loop: bool = Field(True, description="Replay sources start again at the end")
    ring_size: int = Field(4, ge=2, le=64, description="Preallocated frame slots")
    stall_s: float = Field(5.0, gt=0, le=600, description="No frame for this long: reopen")
    arrivals: list[ArrivalConfig] = Field(
        default_factory=list, description="For kind=arrivals: what appears, when"
    )
    motion: MotionConfig = Field(default_factory=MotionConfig)

    @model_validator(mode="before")
    @classmethod
    def _frames_to_seconds(cls, data: Any) -> Any:
        """Reads the motion settings' older names, counted in frames (``warmup_frames``,
        ``relearn_frames``), as the seconds they were at this camera's rate, so that a
        configuration written before they were seconds still starts the guard."""
        if not isinstance(data, dict) or not isinstance(data.get("motion"), dict):
            return data
        motion = dict(data["motion"])
        fps = data.get("fps", cls.model_fields["fps"].default)
        for old, new in _FRAMES_TO_SECONDS.items():
            if old in motion and new not in motion and isinstance(fps, int | float) and fps > 0:
                frames = motion.pop(old)
                if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
                    raise ValueError(f"motion.{old} (now {new}, in seconds) must be a whole "
                                     f"number of frames, 0 or more; got {frames!r}")
                # N frames learnt after the one that started learning: N + 1 frame times.
                motion[new] = (frames + 1) / fps
        return {**data, "motion": motion}


class ArrivalConfig(Section):
    """A photo that appears over the still background for a while (kind=arrivals)."""

    image: str = Field(description="Photo file or asset:NAME")
    at_s: float = Field(ge=0, description="Seconds after start when it appears")
    for_s: float = Field(3.0, gt=0, le=600, description="Seconds it stays")
    box: tuple[float, float, float, float] = Field(
        (0.3, 0.3, 0.4, 0.5), description="Where it appears: x, y, w, h as fractions"
    )
    label: str = Field("", description="What it really is, for the demo's summary")


CameraConfig.model_rebuild()
