"""The pages over HTTP on real parts: the gallery's filters, an event's details, the health
charts from the event log."""

from __future__ import annotations

from datetime import date

import pytest

from .conftest import Site, fetch


@pytest.mark.parametrize(("query", "shown"), [
    ("", True),
    ("?verdict=predator&camera=coop", True),
    (f"?date={date.today().isoformat()}", True),
    ("?verdict=chicken", False),
    ("?camera=yard", False),
    ("?date=2001-01-01", False),
])
def test_the_gallery_shows_only_the_events_its_filters_match(site: Site, query: str,
                                                             shown: bool) -> None:
    page = fetch(site.url + "/events" + query)
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
    assert f"{date.today().isoformat()}: 1 predator" in page
