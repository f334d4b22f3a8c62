"""The whole loop on replayed footage of a real nest-box camera (../shared/data/train,
``chookeggcount:nestbox_cam``): its empty frames go through the collector at the hours they
were taken, the owner labels a few hens the archive kept, the head that decides is re-fitted
from its base and registered as a shadow; the real rendezvous scores replayed visits with it
(the pipeline writes them, shadow answers joined); the candidate is judged (promoted or left a
shadow, with reasons), promoted it joins the critical path and the canary watches the blended
decision, and a rollback gives the running head back."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from actuators.bank import DeterrentBank
from actuators.config import GpioConfig
from camera.capture import Capture
from camera.config import CameraConfig
from camera.frame import Frame
from camera.replay import ArrivalsSource
from classifier import load_classifier
from classifier.config import ModelsConfig
from classifier.feature_head import load_feature_head, shipped_head
from classifier.package import load_package_model
from classifier.regime import Regime
from classifier.registry import ModelRegistry
from classifier.rendezvous import load_rendezvous
from classifier.scene_gate import GatedHead
from edge.assets import AssetStore
from edge.config import Config, DecisionConfig, parse_config
from edge.decider import Decider
from edge.events.archive import Archive
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from edge.health.appliance_metrics import ApplianceMetrics
from edge.latency import LatencyStats
from edge.learn.collector import SceneCollector
from edge.learn.describe import describe_run
from edge.learn.heads import joined_head
from edge.learn.job import judge_candidate, refit
from edge.learn.places import MotionPlaces
from edge.learn.record import LearnRecord
from edge.learn.scenes import SceneStore, scenes_dir
from edge.pipeline import CameraLoop, Parts
from edge.train.dataset import Photo
from edge.train.labels import LABELS_FILE, LabelStore, archived_crops
from edge.train.retrain import RetrainPlan, retrain
from edge.train.trainer import TrainSettings
from tests.conftest import SHARED_DATA
from tests.edge.test_pipeline import Lockstep

CAMERA = "chookeggcount:nestbox_cam"


def nest_box(label: str) -> list[Path]:
    with (SHARED_DATA / "train" / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        return sorted(SHARED_DATA / r["file"] for r in csv.DictReader(fh)
                      if r["camera"] == CAMERA and r["label"] == label)


def taken_at(path: Path) -> float:
    """The frame's time from its name (EggCheck_image_2016-06-18_0900.jpg), ten years on."""
    stamp = path.stem.rsplit("image_", 1)[1]
    t = time.strptime(stamp, "%Y-%m-%d_%H%M")
    return time.mktime((t.tm_year + 10, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, 0, 0, 0, -1))


def frame_of(path: Path, seq: int, at: float) -> Frame:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (160, 90))
    return Frame(seq, image, grey, time.monotonic_ns(), at)


@pytest.fixture(scope="module")
def base_package(tmp_path_factory: pytest.TempPathFactory, asset_store: AssetStore,
                 small_photos: list[Photo]) -> Path:
    """A blending head trained on shared photos (no nest-box frame among them)."""
    plan = RetrainPlan("coop", "base", tmp_path_factory.mktemp("packages"),
                       TrainSettings(folds=0), [])
    with load_classifier(ModelsConfig(), asset_store) as current:  # type: ignore[call-arg]
        return retrain(small_photos, asset_store, plan, current).package


@pytest.fixture(scope="module")
def small_photos() -> list[Photo]:
    from tests.retrain.conftest import PhotoSet
    photos = PhotoSet()
    return photos.photos(photos.rows())


def empty_frames(camera: str, every_s: float, count: int | None = None
                 ) -> list[tuple[Path, float]]:
    """Another camera's empty frames of ``../shared/data/train``, ``every_s`` apart."""
    with (SHARED_DATA / "train" / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        paths = sorted(SHARED_DATA / r["file"] for r in csv.DictReader(fh)
                       if r["camera"] == camera and r["label"] == "background")
    start = time.mktime((2026, 6, 18, 0, 30, 0, 0, 0, -1))
    return [(p, start + every_s * i) for i, p in enumerate(paths[:count])]


def collect(config: Config, state: Path, camera: str = "nest",
            frames: list[tuple[Path, float]] | None = None) -> SceneStore:
    """A camera's empty frames (the nest box's by default) through the collector, each at the
    hour it was taken."""
    ticks = [0.0]

    def clock() -> float:
        ticks[0] += 10.0
        return ticks[0]

    store = SceneStore(scenes_dir(state), config.learn.per_hour, config.learn.refresh_h)
    collector = SceneCollector(store, MotionPlaces(seed=0), config.learn, clock=clock)
    shown = frames if frames is not None else [(p, taken_at(p)) for p in nest_box("background")]
    try:
        for seq, (path, at) in enumerate(shown, start=1):
            frame = frame_of(path, seq, at)
            for _ in range(2):
                collector.still(camera, frame, 224)
                assert collector.wait_idle()
    finally:
        collector.close()
    return store


def label_hens(config: Config, state: Path, hens: list[Path]) -> None:
    """Events of the nest camera in the archive (their crops), labelled hens by the owner."""
    archive = Archive(state / "archive", config.reporters.archive)
    for path in hens:
        rgb = cv2.cvtColor(cv2.resize(cv2.imread(str(path)), (224, 224)), cv2.COLOR_BGR2RGB)
        archive.save("nest", taken_at(path), None, {"mobilenet_v2_imagenet": rgb})
    labels = LabelStore(state / LABELS_FILE)
    crops = archived_crops(archive, labels, state / "events.sqlite3")
    labels.set([c.event for c in crops], "chicken")


def replay_visits(config: Config, state: Path, store: AssetStore, registry: ModelRegistry,
                  mock_factory: object, hens: list[Path]) -> None:
    """Hens visiting the empty nest box, through the real pipeline and rendezvous (the
    candidate a shadow), written to the event log with every model's answer."""
    scene = nest_box("background")[-1]
    cam = CameraConfig.model_validate({
        "name": "nest", "kind": "arrivals", "address": str(scene), "width": 1280,
        "height": 720, "fps": 10, "realtime": False, "loop": False,
        "arrivals": [{"image": str(h), "at_s": 1.0 + 2.5 * i, "for_s": 1.0,
                      "box": (0.2, 0.1, 0.6, 0.8)} for i, h in enumerate(hens)],
    })
    gpio = GpioConfig.model_validate({"deterrents": []})
    log = EventLog(state / "events.sqlite3")
    bank = DeterrentBank(gpio, pin_factory=mock_factory)
    with load_rendezvous(registry.effective(), store) as rendezvous:
        recorder = Recorder(log, Archive(state / "archive", config.reporters.archive),
                            complete=rendezvous.late_answers)
        recorder.start()
        parts = Parts(rendezvous, Decider(DecisionConfig(), gpio.deterrents), bank,  # type: ignore[arg-type]
                      recorder, LatencyStats(), ApplianceMetrics.create(),
                      on_progress=bank.heartbeat)
        stop = threading.Event()
        capture = Capture(cam, lambda: Lockstep(ArrivalsSource(cam, cam.address, hens),
                                                capture.ring, stop), stop)
        loop = CameraLoop(cam, capture, parts, stop, quiet_s=0.0)
        capture.start()
        try:
            loop.run()
        finally:
            capture.close()
            recorder.close()
            bank.close()
            log.close()
    assert loop.error is None


def test_collect_refit_shadow_judge_promote_and_roll_back(
    tmp_path: Path, asset_store: AssetStore, base_package: Path, mock_factory: object
) -> None:
    state = tmp_path / "state"
    config = parse_config({
        "cameras": [{"name": "nest"}], "paths": {"state_dir": str(state)},
        "reporters": {"archive": {"min_free_mb": 0}},
        # Shadows keep every crop and the event waits for them: this machine may be busy.
        "models": {"shadow_queue": 64, "join_wait_ms": 60000, "deadline_ms": 60000},
        "learn": {"scene_interval_s": 5, "still_s": 0, "per_hour": 6, "shadow_hours": 1},
    })
    registry = ModelRegistry(state, config.models)
    registry.register("coop-base", package=base_package)
    registry.promote("coop-base")  # the head that decides now: the re-fit's base

    scenes = collect(config, state)
    coverage = scenes.coverage("nest")
    assert coverage.crops >= 26 and coverage.by_light["night"] > 0 and len(coverage.hours) >= 8
    hens = nest_box("chicken")
    label_hens(config, state, hens[:12])

    run = refit(config, asset_store, state)
    name = run["candidate"]
    roles = {u.name: u.role for u in registry.effective().use}
    assert roles[name] == "shadow" and roles["coop-base"] == "critical"
    (nest,) = run["offline"]["cameras"]
    assert nest["empty"]["n"] > 0 and nest["labelled"]["chicken"]["n"] > 0
    assert run["examples"]["nest"]["fit"]["chicken"] > 0
    assert LearnRecord(state).candidate()["name"] == name  # type: ignore[index]
    # The package decides near the crops it was fitted on only, its base elsewhere.
    package = Path(LearnRecord(state).candidate()["package"])  # type: ignore[index]
    gated = load_package_model(package, asset_store, 1).head
    assert isinstance(gated, GatedHead)
    assert len(gated.gate.anchors) == sum(run["examples"]["nest"]["fit"].values())
    near, held = run["within_scene"]["nest"]
    assert held == sum(run["examples"]["nest"]["held_out"].values()) and 0 < near <= held

    replay_visits(config, state, asset_store, registry, mock_factory, hens[12:15])
    with EventLog(state / "events.sqlite3", readonly=True) as log:
        events = log.list()
    # The candidate scored the visits off the critical path, beside the decided scores that
    # its own answers are compared with.
    assert all(e.scores.get(name, {}).get("role") == "shadow" for e in events)
    assert all({"predator_score", "chicken_score"} <= set(e.decision) for e in events)

    waiting = judge_candidate(config, state)  # not yet: a shadow for less than an hour
    assert waiting["deferred"]
    later = LearnRecord(state).candidate()["registered_at"] + 3601  # type: ignore[index]
    verdict = judge_candidate(config, state, now=later)
    if not verdict["promoted"]:
        assert verdict["reasons"] and roles[name] == "shadow"
        pytest.fail(f"the re-fit was not promoted: {verdict['reasons']}")
    joined = joined_head(registry.effective())
    assert joined is not None and joined.name == name
    with load_rendezvous(registry.effective(), asset_store) as rendezvous:
        assert rendezvous.plan.joined_head == name
        assert rendezvous.plan.decider == f"mobilenet_v2_imagenet+{name}"  # the canary's watch
        crop = cv2.cvtColor(cv2.resize(cv2.imread(str(hens[-1])), (224, 224)),
                            cv2.COLOR_BGR2RGB)
        assert name in rendezvous.classify(np.ascontiguousarray(crop)).models
        registry.rollback()
        rendezvous.swap(registry.effective())
        assert rendezvous.plan.joined_head == "coop-base"


def test_each_fresh_camera_re_fits_the_shipped_default_head_promoted_then_rolled_back(
    tmp_path: Path, asset_store: AssetStore, mock_factory: object
) -> None:
    """No head the owner trained: each camera's re-fit starts from the shipped default head,
    on that camera's own scenes and labels and the features the zero-shot models compute, and
    writes a head of its format, compared with the shipped one (each blended as the classifier
    blends it) on the camera's held-out crops and, as that camera's shadow, on its live
    answers; promoted, it decides that camera's crops only."""
    state = tmp_path / "state"
    config = parse_config({
        "cameras": [{"name": "nest"}, {"name": "field"}, {"name": "porch"}],
        "paths": {"state_dir": str(state)},
        "reporters": {"archive": {"min_free_mb": 0}},
        "models": {"join_wait_ms": 60000, "deadline_ms": 60000},  # this machine may be busy
        "learn": {"scene_interval_s": 5, "still_s": 0, "per_hour": 6, "shadow_hours": 1},
    })
    collect(config, state)
    collect(config, state, "field", empty_frames("noahpbrown:own_feeder_field_cams", 3600.0))
    # A camera put up an hour ago: a few scenes, all of one hour, none of them held out.
    collect(config, state, "porch", empty_frames("trailcamseries:empty_examples", 300.0, 4))
    hens = nest_box("chicken")
    label_hens(config, state, hens[:12])

    run = refit(config, asset_store, state)
    assert run["base"] == shipped_head().name
    cand = LearnRecord(state).candidate()
    assert cand is not None and cand["name"] == run["candidate"]
    assert set(cand["cameras"]) == set(run["heads"]) == {"nest", "field", "porch"}
    assert run["examples"]["porch"]["held_out"] == {}  # nothing yet to judge it on
    heads = {c: load_feature_head(Path(h["head"])) for c, h in cand["cameras"].items()}
    for camera in ("nest", "field"):
        head = heads[camera]
        assert head.name == run["heads"][camera] == cand["cameras"][camera]["name"]
        assert head.info.operating_points == shipped_head().info.operating_points
        assert head.info.training["learn"]["base_sha256"] == shipped_head().info.head.sha256
        # Fitted on its own camera's examples only.
        fitted = run["examples"][camera]["fit"]
        assert head.info.training["files"]["count"] == sum(fitted.values())
        assert head.info.training["learn"]["examples"] == {camera: run["examples"][camera]}
        assert not np.allclose(head.layer.weights, shipped_head().layer.weights)
        assert len(head.head.gate.anchors) == sum(fitted.values())  # gated by its own crops
        (held,) = head.info.metrics["held_out"]["cameras"]
        assert held["camera"] == camera and held["empty"]["n"] > 0
    assert run["examples"]["nest"]["fit"]["chicken"] > 0
    assert "chicken" not in run["examples"]["field"]["fit"]
    assert not np.allclose(heads["nest"].layer.weights, heads["field"].layer.weights)
    nest = next(c for c in run["offline"]["cameras"] if c["camera"] == "nest")
    assert nest["labelled"]["chicken"]["n"] > 0
    # How much of each camera's held-out scene its own re-fit's gate takes in, said in words.
    assert set(run["within_scene"]) == {"nest", "field", "porch"}
    for camera in ("nest", "field"):
        near, held = run["within_scene"][camera]
        assert held == sum(run["examples"][camera]["held_out"].values()) and 0 < near <= held
        assert (f"{camera}: {near} of {held} held-out crops within the re-fit's scene"
                in describe_run(run))
    assert run["within_scene"]["porch"] == [0, 0]

    # Each camera's shadow of the default head: scored on its live crops, deciding nothing.
    registry = ModelRegistry(state, config.models)
    assert registry.effective().camera_head_shadows == {
        c: str(Path(h["head"]).resolve()) for c, h in cand["cameras"].items()}
    assert registry.effective().camera_heads == {}
    # (Hens photographed by day: the nest box's own IR hens are mostly "nothing" to the shipped
    # head, and an event is written for a visit that was something.)
    visitors = [SHARED_DATA / "images" / "chicken" / f"h730breeds__{breed}.jpg"
                for breed in ("australorp", "brahma")]
    replay_visits(config, state, asset_store, registry, mock_factory, visitors)
    with EventLog(state / "events.sqlite3", readonly=True) as log:
        events = [e for e in log.list() if e.camera == "nest"]
    assert events and all({heads["nest"].name, shipped_head().name} <= set(e.scores)
                          and heads["field"].name not in e.scores for e in events)

    # Judged camera by camera on the held-out crops and the live answers after the waiting
    # hours: the nest camera's re-fit is promoted in place of the shipped head for the nest's
    # crops (in every light, as the shipped one); the porch camera's, with nothing held out to
    # judge it on, is refused and stays its shadow, saying why; rolling back gives the shipped
    # head back.
    assert judge_candidate(config, state)["deferred"]
    verdict = judge_candidate(config, state, now=float(cand["registered_at"]) + 3601)
    assert set(verdict["cameras"]) == {"nest", "field", "porch"}
    assert "shadow_disagreements" in verdict
    assert verdict["cameras"]["nest"]["promoted"], verdict["cameras"]["nest"]["reasons"]
    assert not verdict["cameras"]["porch"]["promoted"]
    assert verdict["cameras"]["porch"]["reasons"] == [
        "porch: not enough to judge: no held-out empty scenes or labelled crops yet"]
    promoted = {c for c, o in verdict["cameras"].items() if o["promoted"]}
    effective = registry.effective()
    assert effective.camera_heads == {c: str(Path(cand["cameras"][c]["head"]).resolve())
                                      for c in promoted}
    assert set(effective.camera_head_shadows) == {"nest", "field", "porch"} - promoted
    left = LearnRecord(state).candidate()
    assert left is not None and set(left["cameras"]) == {"nest", "field", "porch"} - promoted
    assert "porch: not enough to judge" in describe_run(LearnRecord(state).last("judge") or {})
    # A hen under IR (grey): a light the default head counts in.
    grey = cv2.cvtColor(cv2.resize(cv2.imread(str(nest_box("chicken")[-1])), (224, 224)),
                        cv2.COLOR_BGR2GRAY)
    crop = np.ascontiguousarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))
    with load_rendezvous(effective, asset_store) as rendezvous:
        answer = rendezvous.classify(crop, "nest")
        assert answer.regime is Regime.NIGHT_IR and heads["nest"].name in answer.models
        assert heads["nest"].name not in rendezvous.classify(crop, "field").models
        assert heads["nest"].name not in rendezvous.classify(crop).models
        for _ in promoted:
            registry.rollback()
        assert registry.effective().camera_heads == {}
        rendezvous.swap(registry.effective())
        assert heads["nest"].name not in rendezvous.classify(crop, "nest").models


def test_a_camera_whose_re_fit_is_lost_falls_back_to_the_shipped_head(
    tmp_path: Path, asset_store: AssetStore
) -> None:
    """A promoted re-fit's folder gone (a card restored from an old image): the camera's crops
    are decided with the shipped head, and the next re-fit is compared with it, not refused."""
    state = tmp_path / "state"
    config = parse_config({"cameras": [{"name": "nest"}], "paths": {"state_dir": str(state)},
                           "learn": {"scene_interval_s": 5, "still_s": 0, "per_hour": 6}})
    collect(config, state)
    registry = ModelRegistry(state, config.models)
    registry.promote_head("scene-default-nest-gone", tmp_path / "gone", "nest")
    crop = cv2.cvtColor(cv2.resize(cv2.imread(str(nest_box("chicken")[0])), (224, 224)),
                        cv2.COLOR_BGR2RGB)
    with load_rendezvous(registry.effective(), asset_store) as rendezvous:
        assert shipped_head().name in rendezvous.classify(np.ascontiguousarray(crop), "nest").models
    run = refit(config, asset_store, state)
    assert run["running"] == shipped_head().name and set(run["heads"]) == {"nest"}
