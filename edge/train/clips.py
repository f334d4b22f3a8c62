""""No animal" examples from a video of a fixed camera: what the head sees in the field.

The appliance classifies only frames with motion, so the empty scenes a head must call
background are motion crops of people, shadows, light changes and plants, cut by the very code
the pipeline uses: :class:`camera.motion.MotionDetector` on the small grey plane, then
:func:`classifier.crop_square` around its regions. A clip with no animal in it gives two kinds of
example:

* ``motion``: every ``motion_every``-th frame with motion, cropped exactly as the pipeline would;
* ``still``: every ``still_every``-th frame without motion, as the whole frame and as a few crops
  around random boxes of the sizes motion gives (a shadow or a leaf moving there would give them).

Frames of one clip are strongly alike, so examples are **grouped** by time: the clip is cut into
``segments`` equal stretches, each one group (all its examples on one side of every split), and
examples within ``guard_s`` seconds of a cut are dropped, so that no burst of motion or still
stretch straddles two groups.

Example::

    clip = clip_examples(Path("yard.mp4"), extractor, ClipSettings())
    clip.features.shape, clip.segment.max() + 1        # (N, 1024), number of groups
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camera.box import Box
from camera.config import MotionConfig
from camera.motion import MotionDetector
from camera.source import grey_of
from classifier.crop import crop_regions, crop_square
from classifier.embeddings import Extractor
from edge.train.errors import TrainError
from groundwork.digest import sha256_of

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".h264", ".webm")
# Random boxes on still frames span the sizes of the motion regions seen on real clips:
# a tenth of the frame's side (a moving shadow) up to half of it (a person near the camera).
BOX_SIDES = (0.1, 0.5)


@dataclass(frozen=True, slots=True)
class ClipSettings:
    """How examples are taken from a clip."""

    motion: MotionConfig = field(default_factory=lambda: MotionConfig())
    motion_every: int = 3
    still_every: int = 20
    still_crops: int = 2
    segments: int = 5
    guard_s: float = 2.0
    side: int = 224
    seed: int = 0


# The settings a package's training record keeps (the motion settings are the defaults').
CLIP_SETTINGS_RECORDED = ("motion_every", "still_every", "still_crops", "segments", "guard_s")


@dataclass(frozen=True, slots=True)
class ClipFile:
    """A clip with no animal in it: its file, the name it is recorded under, its sha256 and
    licence (a package's training record cites its sources; the clip itself is never copied)."""

    path: Path
    source: str
    sha256: str
    licence: str = ""


def make_clip(path: Path, source: str = "", licence: str = "") -> ClipFile:
    """A :class:`ClipFile`; TrainError if ``path`` is missing or not a video by its name."""
    if not is_video(path):
        raise TrainError(f"{path}: not a video file (expected {', '.join(VIDEO_SUFFIXES)})")
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise TrainError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return ClipFile(path, source or str(path), digest, licence)


@dataclass(frozen=True, slots=True)
class ClipExamples:
    """Embedded examples of one clip: ``features[i]`` from frame ``frame[i]`` of kind
    ``kind[i]`` (``motion`` or ``still``), in time segment ``segment[i]`` (0-based)."""

    source: str
    features: np.ndarray
    frame: np.ndarray
    kind: tuple[str, ...]
    segment: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.frame)


def is_video(path: Path) -> bool:
    """Whether ``path`` names a video file (by its suffix)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


Crop = tuple[int, str, np.ndarray]  # frame index, kind, RGB crop


def clip_crops(path: Path, settings: ClipSettings) -> tuple[Iterator[Crop], float, int]:
    """The crops of a clip (lazily, one frame in memory), its frame rate and frame count;
    TrainError naming the file if OpenCV cannot read it."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise TrainError(f"{path}: cannot open it as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if fps <= 0 or count <= 0:
        capture.release()
        raise TrainError(f"{path}: OpenCV reports {fps} fps and {count} frames; not a video")
    return _crops(capture, settings, fps), fps, count


def _crops(capture: cv2.VideoCapture, s: ClipSettings, fps: float) -> Iterator[Crop]:
    detector = MotionDetector(s.motion, fps)
    rng = np.random.default_rng(s.seed)
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            motion = detector.detect(grey_of(image, _grey_size(image, s.motion.width)))
            if motion.moving and index % s.motion_every == 0:
                # The crops the appliance classifies: one per moving region (the detector's
                # whole-frame region when most of the frame moved).
                for crop in crop_regions(image, motion.regions, limit=s.motion.max_regions,
                                         size=s.side):
                    yield index, "motion", crop
            elif not motion.moving and index % s.still_every == 0:
                for box in [None, *(_random_box(rng) for _ in range(s.still_crops))]:
                    regions = [] if box is None else [box]
                    yield index, "still", crop_square(image, regions, whole_frame=box is None,
                                                      size=s.side)
            index += 1
    finally:
        capture.release()


def _grey_size(image: np.ndarray, width: int) -> tuple[int, int]:
    # As camera.source.grey_size: the motion width, the frame's aspect, both even.
    height, full = image.shape[:2]
    w = min(width, full) // 2 * 2
    return w, max(2, round(w * height / full / 2) * 2)


def _random_box(rng: np.random.Generator) -> Box:
    side = float(rng.uniform(*BOX_SIDES))
    x, y = rng.uniform(0.0, 1.0 - side, size=2)
    return Box(float(x), float(y), side, side)


def segment_of(frames: np.ndarray, count: int, fps: float, s: ClipSettings) -> np.ndarray:
    """The time segment of each frame index, or -1 within ``guard_s`` of a cut."""
    length = count / s.segments
    segment = np.minimum(frames // length, s.segments - 1).astype(np.intp)
    cuts = np.arange(1, s.segments) * length
    if len(cuts):
        near = np.abs(frames[:, None] - cuts[None, :]).min(axis=1) < s.guard_s * fps
        segment[near] = -1
    return segment


OnCrop = Callable[[int, np.ndarray], None]


def clip_examples(path: Path, extractor: Extractor, settings: ClipSettings, source: str = "",
                  on_crop: OnCrop | None = None) -> ClipExamples:
    """Embed the examples of one clip (see the module's docstring); TrainError if it has none.
    ``on_crop`` is called with each example's index and crop (to score it with other models)."""
    if settings.segments < 1 or settings.motion_every < 1 or settings.still_every < 1:
        raise TrainError("clip segments, motion_every and still_every must be at least 1")
    crops, fps, count = clip_crops(path, settings)
    rows: list[np.ndarray] = []
    frames: list[int] = []
    kinds: list[str] = []
    segments: list[int] = []
    dropped = 0
    for index, kind, rgb in crops:
        segment = int(segment_of(np.array([index]), count, fps, settings)[0])
        if segment < 0:
            dropped += 1
            continue
        if on_crop is not None:
            on_crop(len(rows), rgb)
        rows.append(extractor.embed(rgb)[0])
        frames.append(index)
        kinds.append(kind)
        segments.append(segment)
    if not rows:
        raise TrainError(f"{path}: gave no examples ({count} frames at {fps:g} fps)")
    log.info("%s: %d examples (%d with motion) in %d segments, %d dropped near cuts", path,
             len(rows), kinds.count("motion"), settings.segments, dropped)
    return ClipExamples(
        source=source or str(path), features=np.asarray(rows, dtype=np.float32),
        frame=np.array(frames, dtype=np.intp), kind=tuple(kinds),
        segment=np.array(segments, dtype=np.intp), fps=fps,
    )

