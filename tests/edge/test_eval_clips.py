"""``tensorchicken eval --clips``: real footage through motion, crop, the real models and the real
decider, visit by visit, in the clip's own time (nothing here is timed)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from camera.config import CameraConfig
from classifier import load_classifier
from edge.cli import main
from edge.cli.eval_clips import clip_camera
from edge.cli.motion import video_config
from edge.config import Config
from edge.visit_replay import replay_visits
from tests.conftest import SHARED_DATA

PEOPLE = SHARED_DATA / "video" / "intel__one-by-one-person-detection.mp4"
FOX_CLIP = SHARED_DATA / "train" / "video" / "gstoyle__example_images_fox.mp4"


@pytest.fixture(scope="module")
def fox_frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real frames: 3.5 s of the IR fox clip at 10 fps, one scene, the fox walking
    in after a second (the motion detector learns the first ten)."""
    folder = tmp_path_factory.mktemp("fox_frames")
    cap = cv2.VideoCapture(str(FOX_CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS)
    try:
        for n in range(36):
            cap.set(cv2.CAP_PROP_POS_FRAMES, round((59.0 + n / 10) * fps))
            ok, image = cap.read()
            assert ok, f"frame {n} of {FOX_CLIP} did not decode"
            cv2.imwrite(str(folder / f"frame_{n:03d}.jpg"), image)
    finally:
        cap.release()
    return folder


def test_people_walking_past_never_fire_nor_make_a_predator_event(
    asset_store, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # The demo's people clip, every frame: to the zero-shot models alone four frames of it are
    # "dog" (0.54-0.66), each alone in its visit. None may fire, and none may make its visit a
    # predator's event (which MQTT publishes as "tensorchicken/predator ON"). The default head
    # (off here, so that the lone frames are there to test the visit rule) calls none of them
    # predator: tests/edge/test_demo.py runs the clip with it.
    config = Config()
    config = config.model_copy(update={
        "models": config.models.model_copy(update={"default_head": False})})
    camera = video_config(CameraConfig(), PEOPLE)
    with load_classifier(config.models, asset_store) as classifier:
        visits = replay_visits(camera, config, classifier, state_dir=tmp_path)
    assert len(visits) >= 10  # people come and go in bursts
    assert sum(v.predator_frames for v in visits) >= 1  # the lone "dog" frames are there ...
    assert [v for v in visits if v.fired] == []  # ... and fire nothing
    assert [v for v in visits if v.verdict == "predator"] == []
    assert all(v.verdict is None for v in visits)  # background only: counted, not logged


def test_a_fox_in_a_frame_folder_fires_and_the_report_says_when(
    fox_frames: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--clips", f"predator={fox_frames}", "--fps", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (clip,) = report["clips"]
    assert clip["expect"] == "predator" and clip["visits"] >= 1
    assert clip["fired"] >= 1 and clip["missed"] == clip["visits"] - clip["confirmed"]
    first = next(v for v in clip["per_visit"] if v["fired"])
    assert first["verdict"] == "predator"
    # The fox walks in about 1.5 s into the folder; two predator frames confirm within a second.
    assert first["start_s"] >= 1.0 and 0 < first["time_to_fire_s"] <= 1.0
    assert first["predator_frames"] >= 2 and first["rules"]["confirmed"] >= 1


def test_a_trail_cameras_burst_of_three_frames_fires(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A trail camera's real IR burst (frames a second or so apart, a fox in every one) of three
    # frames, its commonest setting, replayed at 1 fps: the motion detector learns the first
    # frame, and the fox moving in the other two confirms. With a warm-up counted in frames
    # (ten) the burst made no visit at all.
    burst = sorted((SHARED_DATA / "train" / "predator").glob("czb__demo-images_DSCF00*.JPG"))
    assert len(burst) == 5
    for n, frame in enumerate(burst[:3]):
        (tmp_path / f"frame_{n}.jpg").symlink_to(frame)
    assert main(["eval", "--clips", f"predator={tmp_path}", "--fps", "1", "--json"]) == 0
    (clip,) = json.loads(capsys.readouterr().out)["clips"]
    assert clip["visits"] == 1 and clip["fired"] == 1, clip
    (visit,) = clip["per_visit"]
    assert visit["start_s"] == 1.0 and visit["time_to_fire_s"] == 1.0, visit


def moving_square_clip(path: Path, fps: float, appears_s: float, seconds: float) -> Path:
    """A video at ``fps``: a grey scene with a little sensor noise, and from ``appears_s`` a
    dark square crossing it."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    assert writer.isOpened()
    rng = np.random.default_rng(7)
    try:
        for n in range(round(seconds * fps)):
            image = np.full((240, 320, 3), 128, np.uint8)
            image += rng.integers(0, 4, image.shape, dtype=np.uint8)
            t = n / fps - appears_s
            if t >= 0:
                x = 20 + round(120 * t)
                image[90:150, x : x + 60] = 30
            writer.write(image)
    finally:
        writer.release()
    return path


def test_motion_warms_up_for_a_second_of_the_clip_at_its_own_rate(
    asset_store, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # A 30 fps recording replayed by a camera configured at 10 fps: the warm-up is a time, so
    # it lasts a second of the clip (29 frames after the first), not ten frames (a third of
    # one). Counted at the configured rate, the square appearing at 0.5 s began a visit at once.
    clip = moving_square_clip(tmp_path / "square.avi", 30.0, appears_s=0.5, seconds=3.0)
    camera = video_config(CameraConfig(fps=10), clip)
    assert camera.fps == 10
    config = Config()
    with load_classifier(config.models, asset_store) as classifier:
        visits = replay_visits(camera, config, classifier, state_dir=tmp_path)
    assert visits, "the square crossing the scene made no visit"
    assert 0.95 <= visits[0].start_s <= 1.1, [v.start_s for v in visits]


def test_a_slow_board_still_fires_on_the_fox(
    fox_frames: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 400 ms per classified frame: three of every four frames are skipped as stale, and the
    # two predator frames that confirm are most of a second apart.
    assert main(["eval", "--clips", str(fox_frames), "--expect", "predator", "--fps", "10",
                 "--board-ms", "400", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (clip,) = report["clips"]
    assert report["board_ms"] == 400 and clip["fired"] >= 1
    fired = next(v for v in clip["per_visit"] if v["fired"])
    every_frame = 35 - 10  # frames after the motion detector's warm-up
    assert fired["classified"] < every_frame / 2


def test_the_text_report_has_a_line_per_visit(
    fox_frames: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--clips", f"person={fox_frames}", "--fps", "10"]) == 0
    out = capsys.readouterr().out
    assert f"{fox_frames} (person):" in out and "false firings 1" in out
    assert "fired after" in out and "event predator" in out


def test_the_demo_arrivals_fire_on_each_predator_and_no_hen(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    demo = Path(__file__).resolve().parents[2] / "edge" / "demo.yaml"
    with caplog.at_level(logging.ERROR, logger="actuators.safety"):
        assert main(["eval", "-c", str(demo), "--clips", "camera:coop", "--json"]) == 0
    # Each burst ends when the clip's clock reaches its length, as it would live: the guard,
    # reading the same clock, never finds one past max_on_s however fast the replay runs.
    assert [r.getMessage() for r in caplog.records if r.name == "actuators.safety"] == []
    (clip,) = json.loads(capsys.readouterr().out)["clips"]
    arrivals = [(2.5, True), (9.0, False), (15.5, True), (22.0, False), (28.5, True),
                (35.0, False), (41.5, True)]  # edge/demo.yaml: raccoon, hen, fox, barrow...
    assert clip["visits"] == len(arrivals)
    for visit, (at_s, predator) in zip(clip["per_visit"], arrivals, strict=True):
        assert abs(visit["start_s"] - at_s) < 0.5
        assert visit["fired"] is predator, visit
        if predator:  # the second classified frame confirms: 0.1 s at 10 fps
            assert visit["time_to_fire_s"] <= 0.2 and visit["verdict"] == "predator"
            # No hen in view: the whole bank, the sprinkler too.
            assert visit["deterrents"] == ["floodlight", "siren", "sprinkler"], visit
            assert visit["vetoed"] == []
        else:
            assert visit["deterrents"] == [] and visit["vetoed"] == []


def test_the_report_names_the_deterrents_the_veto_kept_off(
    fox_frames: Path, asset_store, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # A camera where hens live (a nest box): the fox still sets off the siren and the
    # floodlight, and the report says the sprinkler was kept off.
    config = Config()
    camera = clip_camera(config, config.cameras[0], fox_frames, 10.0)
    config = config.model_copy(update={"decision": config.decision.model_copy(
        update={"hens_live_in": [camera.name]})})
    with load_classifier(config.models, asset_store) as classifier:
        visits = replay_visits(camera, config, classifier, state_dir=tmp_path)
    fired = [v for v in visits if v.fired]
    assert fired
    for visit in fired:
        assert visit.deterrents == ("floodlight", "siren") and visit.vetoed == ("sprinkler",)


def test_bad_clip_arguments_say_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--clips", f"wolf={tmp_path}"]) == 2
    assert "'wolf' is not one of predator, chicken, background, person" in capsys.readouterr().err
    assert main(["eval", "--clips", str(tmp_path / "missing.mp4")]) == 2
    assert "missing.mp4: no such video file or folder" in capsys.readouterr().err
    assert main(["eval", "--clips", str(tmp_path)]) == 2
    assert "no frames in the folder" in capsys.readouterr().err
    assert main(["eval", "--clips", "camera:nowhere"]) == 2
    assert "no camera named 'nowhere'" in capsys.readouterr().err
    assert main(["eval"]) == 2
    assert "eval needs --manifest CSV (or --clips PATH...)" in capsys.readouterr().err
    # A rate or a pace that is not a finite number in range is refused before anything runs.
    for option, value in (("--fps", "nan"), ("--fps", "1e-300"), ("--board-ms", "inf")):
        with pytest.raises(SystemExit) as exit_:
            main(["eval", "--clips", str(tmp_path), option, value])
        assert exit_.value.code == 2
        assert f"argument {option}: must be" in capsys.readouterr().err


def test_a_camera_s_own_re_fitted_head_judges_its_clips(
    fox_frames: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once a camera's own re-fit of the default head is promoted, ``eval --clips`` judges that
    camera's clips with it, as the appliance does: here a re-fit that never says predator."""
    import dataclasses
    import hashlib
    import shutil

    import numpy as np

    from classifier.feature_head import DEFAULT_HEAD_DIR, HEAD_FILE, INFO_FILE, shipped_head
    from classifier.registry import ModelRegistry
    from edge.config import load_config

    shipped = shipped_head()
    order = list(shipped.head.classes)
    bias = np.zeros_like(shipped.head.bias)
    bias[order.index("background")] = 20.0
    blind = dataclasses.replace(shipped.head, weights=np.zeros_like(shipped.head.weights),
                                bias=bias)
    folder = tmp_path / "scene-default-nest-blind"
    shutil.copytree(DEFAULT_HEAD_DIR, folder)
    data = blind.to_bytes()
    (folder / HEAD_FILE).write_bytes(data)
    info = (folder / INFO_FILE).read_text()
    (folder / INFO_FILE).write_text(
        info.replace(shipped.info.head.sha256, hashlib.sha256(data).hexdigest())
        .replace(f"version: {shipped.info.version}", "version: blind"))
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"cameras": [{"name": "nest"}],
                                  "paths": {"state_dir": str(tmp_path / "state")}}))
    args = ["eval", "-c", str(config), "--clips", f"predator={fox_frames}", "--fps", "10",
            "--json"]

    def fired() -> int:
        assert main(args) == 0
        (clip,) = json.loads(capsys.readouterr().out)["clips"]
        return int(clip["fired"])

    assert fired() >= 1  # the shipped head: the fox fires
    ModelRegistry(tmp_path / "state", load_config(config).models).promote_head(
        f"{shipped.info.name}-blind", folder, "nest")
    assert fired() == 0  # the nest camera's own head, blind to predators, decides its crops
