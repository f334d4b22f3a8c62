"""The pages over HTTP on real parts: the gallery's filters, an event's details, the health
charts from the event log."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from edge.clip_format import FORMATS
from edge.events.log import EventLog

from .conftest import Site, fetch


def event_day(site: Site) -> str:
    """The local day the site's event was logged on (not today: a run may cross midnight)."""
    return date.fromtimestamp(site.event.start_time).isoformat()


@pytest.mark.parametrize(("query", "shown"), [
    ("", True),
    ("?verdict=predator&camera=coop", True),
    ("?date={day}", True),  # the event's own day
    ("?verdict=chicken", False),
    ("?camera=yard", False),
    ("?date=2001-01-01", False),
])
def test_the_gallery_shows_only_the_events_its_filters_match(site: Site, query: str,
                                                             shown: bool) -> None:
    page = fetch(site.url + "/events" + query.format(day=event_day(site)))
    assert page.status == 200
    assert (f'data-event="{site.event.id}"' in page.body) is shown


def test_an_event_shows_its_pictures_answers_decision_firing_and_latency(site: Site) -> None:
    page = fetch(f"{site.url}/events/{site.event.id}").body
    folder = "/".join((site.event.snapshot or "").split("/")[-3:-1])
    assert f'src="/archive/{folder}/snapshot.jpg"' in page
    assert f'src="/archive/{folder}/crop_mobilenet.png"' in page
    assert "<td>mobilenet</td><td>predator</td><td>0.900</td>" in page
    assert "Rule: <b>confirmed</b>" in page and '<b id="fired">siren</b>' in page
    assert "<td>inference</td><td>40.0</td>" in page
    crop = fetch(f"{site.url}/archive/{folder}/crop_mobilenet.png")
    assert crop.status == 200 and crop.headers["Content-Type"] == "image/png"


def test_health_draws_its_charts_from_the_event_log(site: Site) -> None:
    page = fetch(site.url + "/health").body
    assert page.count('<svg class="chart"') == 2
    assert "<title>total p50 60.0 ms</title>" in page
    assert f"{event_day(site)}: 1 predator" in page


def test_an_event_plays_its_clip_and_says_what_the_firing_did(site: Site) -> None:
    page = fetch(f"{site.url}/events/{site.event.id}").body
    assert "No clip archived." in page and "Still watching the camera." in page
    folder = Path(str(site.event.snapshot)).parent
    clip = folder / "clip.mp4"
    writer = FORMATS[1].open(clip, 5, (64, 48))  # mp4v: every OpenCV wheel writes it
    for shade in range(5):
        writer.write(np.full((48, 64, 3), shade * 40, np.uint8))
    writer.release()
    site.event.clip = clip.relative_to(site.ctx.state_dir).as_posix()
    site.event.outcome = {"result": "left", "left_after_s": 2.5, "stayed": False,
                          "returned": False, "fired_again": False, "watched_s": 300.0}
    with EventLog(site.ctx.state_dir / "events.sqlite3") as log:
        log.update(site.event)
    page = fetch(f"{site.url}/events/{site.event.id}").body
    url = f"/archive/{folder.parent.name}/{folder.name}/clip.mp4"
    assert f'<video id="clip" controls preload="metadata" src="{url}">' in page
    assert '<p id="outcome">It left 2.5 s after the firing.</p>' in page
    video = fetch(site.url + url)
    assert video.status == 200 and video.headers["Content-Type"] == "video/mp4"
    assert "siren → left" in fetch(site.url + "/events").body  # the gallery's card too
