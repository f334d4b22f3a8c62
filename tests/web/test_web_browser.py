"""The web page in a real Chromium (Debian's chromium and chromium-driver; nothing downloads a
browser) against a running demo: real clip, real photos, real models, mock pins.

One demo and one browser for the whole module. With TENSORCHICKEN_WEB_SCREENSHOTS=DIR the
pages are also saved there as PNGs (the README's pictures come from ``docs/web``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from classifier.verdict import Classification, Verdict
from edge.app import Appliance
from edge.config import parse_config
from edge.demo import demo_config
from edge.events.log import EventLog

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=412,915")  # a phone's screen
WAIT_S = 90.0


@pytest.fixture(scope="module")
def demo(asset_store: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    """The demo, its cameras looping so that it runs until the module is done."""
    from actuators.bank import make_pin_factory

    state = tmp_path_factory.mktemp("webdemo")
    data = demo_config(state, "127.0.0.1:0").model_dump(mode="json")
    for camera in data["cameras"]:
        camera["loop"] = True
    app = Appliance(parse_config(data, "web demo"), asset_store,
                    pin_factory=make_pin_factory("mock"), state_dir=state)
    thread = threading.Thread(target=app.run, kwargs={"duration_s": 900}, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        app.request_stop("tests done")
        thread.join(30)
        app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system's packages, driven by Selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, (f"{', '.join(missing)} missing: apt-get install chromium "
                         "chromium-driver (scripts/test.sh does)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never fetches anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, check: Any, timeout: float = WAIT_S) -> Any:
    """Poll ``check()`` until it returns something true (a page still loading is retried)."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = check()
        except WebDriverException as exc:  # the element is being replaced by the next page
            got, last = None, exc
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout:.0f} s for {what}; last error: {last!r}")


def screenshot(driver: Any, name: str) -> None:
    """Save the page as ``DIR/name.png`` when TENSORCHICKEN_WEB_SCREENSHOTS=DIR."""
    folder = os.environ.get("TENSORCHICKEN_WEB_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    image = cv2.imdecode(
        np.frombuffer(driver.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
    # 16 levels per channel: a third of the bytes in the repository, still easy to read.
    image = (np.round(image / 17.0) * 17).astype(np.uint8)
    cv2.imwrite(str(Path(folder) / f"{name}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def open_page(driver: Any, demo: Appliance, path: str) -> None:
    driver.get(demo.web.url.rstrip("/") + path)


def state_of(demo: Appliance) -> Path:
    return Path(demo.config.paths.state_dir or "")


def predator() -> Classification:
    return Classification(Verdict.PREDATOR, 0.95, 0.95, 0.0, "red fox", "browser test")


def test_every_page_loads(demo: Appliance, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, demo, "/")
    for camera in ("yard", "coop"):
        # The picture the page asked for came back from the loop and was drawn.
        wait_for(f"camera {camera}'s live picture", lambda c=camera: browser.execute_script(
            "const i = document.getElementById('live-' + arguments[0]);"
            "return i.complete && i.naturalWidth > 0 && i.dataset.loaded;", c))
    wait_for("a verdict on the live page", lambda: any(
        v in browser.find_element(By.ID, "verdict-coop").text for v in ("predator", "chicken")))
    screenshot(browser, "live")
    for path, title, needs in (("/events", "Events", "card"), ("/models", "Models", "table"),
                               ("/health", "Health", "chart"), ("/farm", "Farm", "p.muted")):
        open_page(browser, demo, path)
        assert browser.find_element(By.TAG_NAME, "h1").text == title
        if path == "/events":
            wait_for("an event in the gallery", lambda: (browser.refresh(), browser.find_elements(
                By.CSS_SELECTOR, "article.card img"))[1], timeout=WAIT_S)
        if path == "/health":
            wait_for("the latency chart", lambda: (browser.refresh(), browser.find_elements(
                By.CSS_SELECTOR, "svg.chart"))[1], timeout=WAIT_S)
        assert browser.find_elements(By.CSS_SELECTOR, f".{needs}, {needs}"), path
        screenshot(browser, path.strip("/"))


def _archived_event(demo: Appliance) -> Any:
    with EventLog(state_of(demo) / "events.sqlite3", readonly=True) as log:
        return next((e for e in reversed(log.list()) if e.crops), None)


def test_a_label_set_from_the_page_reaches_label_list(
        demo: Appliance, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    event = wait_for("an archived event", lambda: _archived_event(demo))
    open_page(browser, demo, f"/events?camera={event.camera}&verdict={event.verdict}")
    browser.find_element(By.CSS_SELECTOR, f'article[data-event="{event.id}"] a').click()
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Event {event.id}"
    browser.find_element(By.XPATH, "//button[normalize-space()='hen']").click()
    assert wait_for("the label on the page", lambda: browser.find_element(
        By.ID, "owner-label").text) == "hen"
    screenshot(browser, "event")

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"paths": {"state_dir": str(state_of(demo))}}))
    listed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "label", "-c", str(config), "list", "--json"],
        capture_output=True, text=True, check=True, timeout=60)
    rows = {row["event"]: row for row in json.loads(listed.stdout)}
    folder = Path(next(iter(event.crops.values()))).parent
    ref = folder.relative_to(state_of(demo) / "archive").as_posix()
    # The event log's event and the owner's label meet on the same archived crop.
    assert rows[ref]["owner_label"] == "chicken"
    assert rows[ref]["verdict"] == event.verdict


def test_disarm_then_arm_changes_what_the_decider_does(demo: Appliance, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, demo, "/")
    assert demo.decider.armed
    browser.find_element(By.CSS_SELECTOR, "button[name=disarm]").click()
    browser.switch_to.alert.accept()  # the page asks first
    wait_for("DISARMED", lambda: browser.find_element(By.ID, "armed-state").text == "DISARMED")
    assert demo.decider.armed is False
    decisions = [demo.decider.decide("browser-test", predator()) for _ in range(3)]
    assert decisions[-1].rule == "disarmed" and not decisions[-1].fire

    browser.find_element(By.CSS_SELECTOR, "button[name=arm]").click()
    wait_for("ARMED", lambda: browser.find_element(By.ID, "armed-state").text == "ARMED")
    assert demo.decider.armed is True
    # Two frames in a row confirm (2 of 3 within 3 s), as before the disarm.
    decision = [demo.decider.decide("browser-test", predator()) for _ in range(3)][-1]
    assert decision.rule in ("confirmed", "held", "cooldown"), decision
    assert decision.rule != "disarmed"


def _job_finished(browser: Any) -> str:
    from selenium.webdriver.common.by import By

    state = browser.find_element(By.ID, "job-state").text
    return state if not state.startswith("running") else ""


def test_training_from_the_page_shows_its_progress(demo: Appliance, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, demo, "/models")
    browser.find_element(By.XPATH, "//button[normalize-space()='Train from labels']").click()
    browser.switch_to.alert.accept()
    state = wait_for("the training job to end", lambda: _job_finished(browser))
    output = browser.find_element(By.CSS_SELECTOR, "pre.job").text
    assert "train --from-archive" in output  # the real command, its output as it came
    # One labelled crop (the label test's) is too few: the page says so, as the CLI would.
    assert state.startswith("failed") and "too few to train a head" in output, output


def test_promote_then_roll_back_from_the_page(demo: Appliance, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    keeper = demo.keeper
    assert keeper is not None
    before = keeper.rendezvous.plan.primary
    other = next(u.name for u in keeper.registry.effective().use if u.name != before)
    open_page(browser, demo, "/models")
    browser.find_element(By.XPATH, f"//tr[td[text()='{other}']]//button").click()
    browser.switch_to.alert.accept()
    state = wait_for("the promotion", lambda: _job_finished(browser))
    assert state.startswith("done"), browser.find_element(By.CSS_SELECTOR, "pre.job").text
    assert keeper.rendezvous.plan.primary == other

    browser.find_element(By.XPATH, "//button[contains(., 'Roll back')]").click()
    browser.switch_to.alert.accept()
    wait_for("the rollback to start", lambda: "rollback" in browser.find_element(
        By.ID, "job-state").text)
    state = wait_for("the rollback", lambda: _job_finished(browser))
    assert state.startswith("done"), browser.find_element(By.CSS_SELECTOR, "pre.job").text
    assert keeper.rendezvous.plan.primary == before


def test_the_models_page_shows_each_camera_s_default_head(demo: Appliance, browser: Any,
                                                          tmp_path: Path) -> None:
    """A camera's re-fit of the default head, first its shadow then promoted, is shown on that
    camera's row, and the running appliance decides that camera's crops with it (the keeper
    swaps it in); rolled back, the shipped head decides again."""

    from selenium.webdriver.common.by import By

    from classifier.feature_head import SECOND_LOOK_DIR, load_feature_head, shipped_head
    from tests.conftest import gated_refit_copy

    keeper = demo.keeper
    assert keeper is not None
    camera = demo.config.cameras[0].name
    refit = tmp_path / "scene-default-browser"
    gated_refit_copy(refit, "browser-1")
    name = f"{shipped_head().info.name}-browser-1"

    def row() -> list[str]:
        open_page(browser, demo, "/models")
        cells = browser.find_elements(By.XPATH, f"//tr[td[1][text()='{camera}']]/td")
        return [c.text for c in cells]

    shipped = (f"{shipped_head().name} (shipped, {load_feature_head(SECOND_LOOK_DIR).name} on "
               "the crops it leaves undecided)")
    assert row()[1:] == [shipped, "-"]
    keeper.registry.shadow_heads({camera: (name, refit)})
    # Polled: a page served while the keeper reloads may not show the row yet (seen once in
    # CI: fewer than three cells); the shadow's cell must still appear, exactly.
    wait_for("the shadow on the page", lambda: row()[2:] == [f"{name} (judged after its shadow "
                                                             "hours)"])
    keeper.registry.promote_head(name, refit, camera)
    try:
        wait_for("the keeper's swap", lambda: name in
                 keeper.rendezvous.plan.classifier.camera_heads.get(camera, shipped_head()).name)
        assert row()[1:] == [f"{name} (re-fitted on this camera; decides near its 5 crops, "
                             "the shipped head elsewhere)", "-"]
        others = [c.name for c in demo.config.cameras[1:]]
        assert all(c not in keeper.rendezvous.plan.classifier.camera_heads for c in others)
    finally:
        keeper.registry.rollback()
    wait_for("the rollback's swap", lambda: not keeper.rendezvous.plan.classifier.camera_heads)
    assert row()[1:] == [shipped, "-"]
