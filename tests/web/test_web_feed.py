"""The live feed: the loop copies a frame only when a page asked for one."""

from __future__ import annotations

import threading
import time

import numpy as np

from camera.box import Box
from camera.frame import Frame
from edge.web.feed import LiveFeed
from edge.web.pages.live import drawn


def frame(seq: int) -> Frame:
    image = np.full((72, 128, 3), seq, np.uint8)
    return Frame(seq, image, image[..., 0], time.monotonic_ns(), time.time())


def test_no_page_no_copy_and_a_page_gets_the_next_frame() -> None:
    feed = LiveFeed()
    assert not feed.wanted("coop")  # nothing asked: the loop copies nothing
    got: list[object] = []
    asker = threading.Thread(target=lambda: got.append(feed.latest("coop", wait_s=5)))
    asker.start()
    while not feed.wanted("coop"):
        time.sleep(0.01)
    source = frame(7)
    feed.offer("coop", source, (Box(0.1, 0.1, 0.5, 0.5),))
    asker.join(5)
    shot = got[0]
    assert shot is not None and shot.seq == 7  # type: ignore[attr-defined]
    assert not feed.wanted("coop")  # one copy per request
    source.image[:] = 99  # the ring reuses its slot: the page's copy must not change
    assert int(shot.image[0, 0, 0]) == 7  # type: ignore[attr-defined]


def test_a_camera_that_sends_nothing_gives_the_last_copy_or_none() -> None:
    feed = LiveFeed()
    assert feed.latest("yard", wait_s=0.05) is None
    assert feed.wanted("yard")  # the page asked, and still waits for a copy
    feed.offer("yard", frame(3), ())
    assert feed.latest("yard", wait_s=0.05).seq == 3  # type: ignore[union-attr]


def test_boxes_are_drawn_on_a_scaled_copy() -> None:
    feed = LiveFeed()
    assert feed.latest("coop", wait_s=0) is None  # a page asks
    big = Frame(1, np.zeros((1080, 1920, 3), np.uint8), np.zeros((90, 160), np.uint8), 0, 0.0)
    feed.offer("coop", big, (Box(0.25, 0.25, 0.5, 0.5),))
    shot = feed.latest("coop", wait_s=0.01)
    assert shot is not None
    picture = drawn(shot)
    assert picture.shape[1] == 960 and picture.any()
    assert not shot.image.any()  # the shot itself stays as the camera saw it
