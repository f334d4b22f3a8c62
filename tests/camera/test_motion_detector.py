"""MotionDetector on synthetic grey frames: still, a moving square, a light change, masks."""

from __future__ import annotations

import numpy as np
import pytest

from camera.box import Box
from camera.config import MotionConfig
from camera.motion import Motion, MotionDetector, merge_boxes, pad_box

H, W = 120, 160
FPS = 10.0


def scene(seed: int = 0, level: int = 100) -> np.ndarray:
    """A textured grey background with a little sensor noise."""
    rng = np.random.default_rng(seed)
    base = np.tile(np.linspace(level - 30, level + 30, W, dtype=np.float32), (H, 1))
    return np.clip(base + rng.normal(0, 2, (H, W)), 0, 255).astype(np.uint8)


def with_square(frame: np.ndarray, x: int, y: int, size: int = 20, value: int = 230) -> np.ndarray:
    out = frame.copy()
    out[y : y + size, x : x + size] = value
    return out


def warmed(cfg: MotionConfig | None = None, frames: int = 12) -> MotionDetector:
    detector = MotionDetector(cfg or MotionConfig(), FPS)
    for i in range(frames):
        detector.detect(scene(i))
    return detector


def test_still_scene_with_noise_has_no_motion() -> None:
    detector = warmed()
    results = [detector.detect(scene(100 + i)) for i in range(30)]
    assert not any(m.moving for m in results)


def test_warm_up_reports_nothing_even_when_things_change() -> None:
    detector = MotionDetector(MotionConfig(warmup_s=0.5), FPS)
    results = [detector.detect(with_square(scene(i), 10 + 8 * i, 40)) for i in range(5)]
    assert results == [Motion.still()] * 5


def test_warm_up_and_relearning_are_times_not_frame_counts() -> None:
    # A camera giving a frame a second (a trail camera's burst, a slow RTSP stream, a folder of
    # frames replayed at 1 fps) learns its first frame, then sees what moves: with ten frames
    # of warm-up it would miss a five-frame visit whole. At 10 fps, the frames of the first
    # second are learnt.
    slow = MotionDetector(MotionConfig(), fps=1.0)
    found = [slow.detect(with_square(scene(i), 10 + 12 * i, 40)) for i in range(5)]
    assert [m.moving for m in found] == [False, True, True, True, True]
    fast = MotionDetector(MotionConfig(), fps=FPS)
    found = [fast.detect(with_square(scene(i), 5 + 4 * i, 40)) for i in range(13)]
    assert [m.moving for m in found] == [False] * 10 + [True] * 3
    # After a light change, half a second: at 1 fps the next frame counts again.
    for i in range(5, 8):
        slow.detect(scene(i))
    jump = [slow.detect(np.clip(with_square(scene(20 + i), 10 + 12 * i, 40).astype(int) + 90,
                                0, 255).astype(np.uint8)) for i in range(3)]
    assert jump[0].relearned and [m.moving for m in jump[1:]] == [True, True]


def test_the_frame_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="frame rate"):
        MotionDetector(MotionConfig(), fps=0.0)


def test_moving_square_is_found_where_it_is() -> None:
    detector = warmed()
    motion = Motion.still()
    for step in range(6):
        x = 20 + 10 * step
        motion = detector.detect(with_square(scene(50 + step), x, 50))
        assert motion.moving
    box = motion.boxes[0]
    # The square is at x=70..90, y=50..70 in the last frame; its box must hold it.
    assert box.x <= 70 / W and box.x + box.w >= 90 / W
    assert box.y <= 50 / H <= box.y + box.h and box.y + box.h >= 70 / H
    assert 0.01 < motion.area < 0.2
    assert len(motion.regions) == 1 and motion.regions[0].area >= box.area


def test_dark_object_on_bright_ground_is_found_too() -> None:
    # With uint8 subtraction, 20 - 200 would wrap to 76 and could hide under the threshold
    # in one direction only; both directions must count.
    detector = warmed(MotionConfig(warmup_s=0.2), frames=4)
    bright = np.full((H, W), 200, np.uint8)
    detector.reset()
    for _ in range(4):
        detector.detect(bright)
    moving = [detector.detect(with_square(bright, 20 + 10 * i, 30, value=20)) for i in range(3)]
    assert all(m.moving for m in moving)


def test_global_brightness_jump_relearns_instead_of_triggering() -> None:
    cfg = MotionConfig(relearn_s=0.3)
    detector = warmed(cfg)
    jump = [detector.detect(np.clip(scene(200 + i).astype(int) + 90, 0, 255).astype(np.uint8))
            for i in range(8)]
    assert jump[0].relearned and not jump[0].moving
    assert not any(m.moving for m in jump)
    # After re-learning, a real mover in the new light is seen again.
    lit = [np.clip(scene(300 + i).astype(int) + 90, 0, 255).astype(np.uint8) for i in range(3)]
    found = [detector.detect(with_square(f, 20 + 15 * i, 40, value=10)) for i, f in enumerate(lit)]
    assert any(m.moving for m in found)


def test_masked_region_is_ignored_and_unmasked_still_counts() -> None:
    left_half = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
    detector = warmed(MotionConfig(masks=[left_half]))
    in_mask = [detector.detect(with_square(scene(60 + i), 10 + 8 * i, 40)) for i in range(4)]
    assert not any(m.moving for m in in_mask)
    outside = [detector.detect(with_square(scene(70 + i), 100 + 8 * i, 40)) for i in range(4)]
    assert all(m.moving for m in outside)
    assert all(b.x >= 0.5 for m in outside for b in m.boxes)


def test_object_that_stops_stops_being_motion() -> None:
    # The ghost of a stopped object differs from the old background but not from the
    # recent frames: it must fade out of "motion" within a few frames, not seconds.
    detector = warmed()
    for step in range(4):
        assert detector.detect(with_square(scene(80 + step), 20 + 10 * step, 50)).moving
    parked = [detector.detect(with_square(scene(90 + i), 50, 50)) for i in range(15)]
    assert not parked[-1].moving


def test_large_motion_selects_the_whole_frame() -> None:
    detector = warmed(MotionConfig(global_change=0.9, whole_frame_above=0.3))
    big = detector.detect(with_square(scene(40), 0, 0, size=100, value=255))
    assert big.moving and big.regions == (Box(0.0, 0.0, 1.0, 1.0),)


def test_input_of_another_size_is_scaled_to_the_configured_width() -> None:
    detector = MotionDetector(MotionConfig(width=80, warmup_s=0.1), FPS)
    detector.detect(scene(1))
    detector.detect(scene(2))
    motion = detector.detect(with_square(scene(3), 60, 40, size=30))
    assert motion.moving
    assert motion.boxes[0].x == pytest.approx(60 / W, abs=0.05)


def test_wrong_input_type_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2-D uint8"):
        MotionDetector(MotionConfig(), FPS).detect(np.zeros((10, 10, 3), np.uint8))


def test_nearby_boxes_merge_and_far_ones_stay_apart_within_the_limit() -> None:
    a, b, far = Box(0.1, 0.1, 0.1, 0.1), Box(0.22, 0.1, 0.1, 0.1), Box(0.8, 0.8, 0.1, 0.1)
    assert merge_boxes((a, b, far), gap=0.05, max_regions=3) == (a.union(b), far)
    assert merge_boxes((a, b, far), gap=0.0, max_regions=1) == (a.union(b).union(far),)


def test_padding_grows_a_region_and_stays_in_the_frame() -> None:
    padded = pad_box(Box(0.0, 0.5, 0.2, 0.2), 0.5)
    assert padded.as_list() == pytest.approx([0.0, 0.4, 0.3, 0.4])
