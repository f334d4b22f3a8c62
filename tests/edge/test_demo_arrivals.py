"""The demo's per-arrival table credits each firing to the photo its frame showed, also when the
cameras ran behind real time (an emulated or slow board), which wall-clock time does not."""

from __future__ import annotations

from pathlib import Path

from edge.demo import arrival_outcomes, demo_config
from edge.health.summary import RunSummary


def test_a_run_behind_real_time_credits_each_firing_to_the_photo_it_saw(tmp_path: Path) -> None:
    config = demo_config(tmp_path, web_address=None)
    coop = next(c for c in config.cameras if c.name == "coop")
    raccoon, fox = coop.arrivals[0], coop.arrivals[2]
    # Frame n shows second (n - 1) / fps of the schedule: a firing 1 s into each arrival.
    fired = [round((a.at_s + 1.0) * coop.fps) + 1 for a in (raccoon, fox)]
    delivered = int(30 * coop.fps)  # the source got 30 s into its schedule...
    summary = RunSummary(seconds=300.0, cameras={  # ...in 300 s of wall time
        "coop": {"frames": delivered // 4, "skipped": delivered - delivered // 4,
                 "fired_frames": fired},
        "yard": {"frames": 100, "skipped": 0, "fired_frames": []},
    })

    outcomes = {a.image: (a.firings, a.shown) for a in arrival_outcomes(config, summary)}

    assert outcomes == {
        "asset:raccoon__raccoon-7.jpg": (1, True),
        "asset:h730breeds__australorp.jpg": (0, True),
        "asset:wikianimals__fox.webp": (1, True),
        "asset:inet__n02797295_barrow.JPEG": (0, True),
        "asset:cubsub__Blue_Jay-0000.jpg": (0, True),
        "asset:h730breeds__brahma.jpg": (0, False),  # due at 35 s: never shown
        "asset:coral__owl.jpg": (0, False),
    }
