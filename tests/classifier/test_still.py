"""A whole still picture is judged by its squares, not by its centre alone (classifier.still)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from classifier import Classifier, Verdict, load_image
from classifier.ensemble import Thresholds
from classifier.errors import ImageError
from classifier.still import HEN_ELSEWHERE, SIDE_POINT, classify_still, judged, squares
from classifier.verdict import Classification
from tests.conftest import SHARED_DATA

HEN = SHARED_DATA / "images" / "chicken" / "c4f__1.png"
OWL = SHARED_DATA / "images" / "predator" / "coral__owl.jpg"


def test_a_square_picture_is_itself_then_its_quarters() -> None:
    assert squares(480, 480) == [(0, 0, 480), (0, 0, 240), (0, 240, 240), (240, 0, 240),
                                 (240, 240, 240)]
    # Under 5 % wider: its centre loses little, so no other square of its height.
    assert squares(500, 510)[:2] == [(0, 5, 500), (0, 0, 250)]


def covered(height: int, width: int, side: int) -> np.ndarray:
    seen = np.zeros((height, width), bool)
    for top, left, s in squares(height, width):
        assert 0 <= top <= height - s and 0 <= left <= width - s
        if s == side:
            seen[top:top + s, left:left + s] = True
    return seen


def test_a_wide_frame_is_its_centre_then_squares_end_to_end_then_a_grid_of_half_squares(
) -> None:
    got = squares(1080, 1920)
    assert got[:3] == [(0, 420, 1080), (0, 0, 1080), (0, 840, 1080)]
    assert len(got) == 3 + 2 * 4 and {s for _, _, s in got[3:]} == {540}
    assert covered(1080, 1920, 1080).all() and covered(1080, 1920, 540).all()
    nest_box = squares(569, 1385)  # the egg counter's two nest boxes side by side
    assert nest_box[0] == (0, 408, 569) and len([s for s in nest_box if s[2] == 569]) == 5
    assert covered(569, 1385, 569).all() and covered(569, 1385, 284).all()


def test_a_tall_picture_is_cut_along_its_height() -> None:
    assert squares(1920, 1080)[:3] == [(420, 0, 1080), (0, 0, 1080), (840, 0, 1080)]
    assert covered(1920, 1080, 540).all()


def answer(predator: float, chicken: float, label: str = "x") -> Classification:
    verdict = (Verdict.PREDATOR if predator >= 0.5 else
               Verdict.CHICKEN if chicken >= 0.3 else Verdict.BACKGROUND)
    return Classification(verdict, max(predator, chicken), predator, chicken, label, "m")


def test_a_strip_is_refused_not_judged_by_thousands_of_squares() -> None:
    # A 1 x 60000 picture would be 240000 squares (minutes of work for nothing a camera sends).
    asked: list[np.ndarray] = []

    def classify(crop: np.ndarray) -> Classification:
        asked.append(crop)
        return Classification(Verdict.BACKGROUND, 0.9, predator_score=0.0, chicken_score=0.0,
                              label="background", decided_by="test")

    for shape in ((1, 60000, 3), (30000, 8, 3)):
        with pytest.raises(ImageError, match="longer side is more than 8 times its shorter"):
            classify_still(classify, Thresholds(), np.zeros(shape, np.uint8))
    assert asked == []
    classify_still(classify, Thresholds(), np.zeros((100, 800, 3), np.uint8))  # 8:1 still is
    assert len(asked) == len(squares(100, 800))


def test_a_hen_in_any_square_is_seen_and_keeps_the_predator_of_another_square_out() -> None:
    got = judged([answer(0.1, 0.02, "centre"), answer(0.8, 0.0, "dog"),
                  answer(0.0, 0.9, "hen")], Thresholds())
    assert (got.verdict, got.label) == (Verdict.CHICKEN, "hen")
    assert (got.predator_score, got.chicken_score) == (0.1, 0.9)


def test_with_no_hen_anywhere_the_most_predator_like_square_decides() -> None:
    got = judged([answer(0.1, 0.02, "centre"), answer(0.8, HEN_ELSEWHERE / 2, "fox"),
                  answer(0.2, 0.0, "grass")], Thresholds())
    assert (got.verdict, got.label, got.predator_score) == (Verdict.PREDATOR, "fox", 0.8)


def test_another_square_must_reach_the_side_point_to_count() -> None:
    # Each square more is one more chance of a false alarm: a side square just over the
    # threshold does not outvote the centre.
    got = judged([answer(0.1, 0.0, "centre"), answer(SIDE_POINT - 0.01, 0.0, "shadow")],
                 Thresholds())
    assert (got.verdict, got.predator_score) == (Verdict.BACKGROUND, 0.1)


def test_the_centre_s_predator_stands_beside_a_hen_and_carries_her_score_for_the_veto() -> None:
    got = judged([answer(0.7, 0.0, "fox"), answer(0.0, 0.6, "hen")], Thresholds())
    assert (got.verdict, got.label) == (Verdict.PREDATOR, "fox")
    assert got.chicken_score == 0.6  # the chicken veto keeps the sprinkler off


def wide(photo: np.ndarray, at_right: bool) -> np.ndarray:
    """``photo`` as a 300x300 square at one end of a 300x960 mid-grey frame."""
    frame = np.full((300, 960, 3), 128, np.uint8)
    square = cv2.resize(photo, (300, 300), interpolation=cv2.INTER_AREA)
    if at_right:
        frame[:, -300:] = square
    else:
        frame[:, :300] = square
    return frame


@pytest.mark.parametrize(("photo", "at_right", "verdict"), [
    (HEN, True, Verdict.CHICKEN), (OWL, False, Verdict.PREDATOR)])
def test_an_animal_at_the_edge_of_a_wide_picture_is_found_by_the_real_models(
        default_classifier: Classifier, photo: Path, at_right: bool, verdict: Verdict) -> None:
    rgb = wide(load_image(photo), at_right)
    _, left, side = squares(*rgb.shape[:2])[0]
    centre = default_classifier.classify(np.ascontiguousarray(rgb[:, left:left + side]))
    assert centre.verdict is Verdict.BACKGROUND  # the centred square shows grey alone
    still = classify_still(default_classifier.classify, default_classifier.thresholds, rgb)
    assert still.verdict is verdict
