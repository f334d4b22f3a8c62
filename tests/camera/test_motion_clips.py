"""The default MotionConfig on real clips, through ``tensorchicken motion VIDEO --json``.

Tolerance: 1 s. A still stretch [a, b] must have no motion inside [a + 1, b - 1]; each
burst [a, b] must overlap a segment within [a - 1, b + 1]. The timeline is the one the
clip's README gives (people walking past a fixed camera, 10 fps).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from tests.conftest import SHARED_DATA

TOLERANCE_S = 1.0
PEOPLE = SHARED_DATA / "video" / "intel__one-by-one-person-detection.mp4"
MOUSE = SHARED_DATA / "video" / "dlc__m3v1mp4.mp4"
STILL = [(0, 5), (9, 16), (26, 42), (95, 115), (136, 139)]
BURSTS = [(6, 8), (17, 19), (22, 24), (43, 44), (50, 52), (59, 60), (67, 69), (74, 76),
          (84, 86), (92, 94), (116, 118), (122, 124), (132, 134)]


def segments(video: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    if not video.is_file():
        pytest.skip(f"{video} is not here")
    assert main(["motion", str(video), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines]


def test_people_clip_segments_match_its_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    found = segments(PEOPLE, capsys)
    for seg in found:
        assert {"start_s", "end_s", "peak_area", "boxes"} <= seg.keys()
        assert 0 < seg["peak_area"] <= 1 and seg["boxes"]
    for a, b in STILL:
        inside = [s for s in found
                  if s["start_s"] < b - TOLERANCE_S and s["end_s"] > a + TOLERANCE_S]
        assert not inside, f"motion during the still stretch {a}-{b} s: {inside}"
    for a, b in BURSTS:
        hits = [s for s in found
                if s["start_s"] <= b + TOLERANCE_S and s["end_s"] >= a - TOLERANCE_S]
        assert hits, f"no motion found for the burst at {a}-{b} s"


@pytest.mark.slow
def test_mouse_that_never_stops_is_moving_throughout(capsys: pytest.CaptureFixture[str]) -> None:
    found = segments(MOUSE, capsys)
    covered = sum(s["end_s"] - s["start_s"] for s in found)
    assert found[0]["start_s"] < 2.0 and found[-1]["end_s"] > 76.0
    assert covered > 0.95 * 77.0
