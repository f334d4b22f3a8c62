"""``tensorchicken classify`` and ``tensorchicken eval`` on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ROWS = [
    "images/predator/coral__owl.jpg,predator,burrowing_owl",
    "images/chicken/c4f__47.png,chicken,hen_name_overlay",
    "images/background/inet__n07802026_hay.JPEG,background,hay_field",
    "video/intel__one-by-one-person-detection.mp4,video,people_static_camera",
]


def _manifest(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "m.csv"
    path.write_text("file,label,subclass,source_repo\n" + "".join(f"{r},x\n" for r in rows))
    return path


def test_classify_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(DATA / "images/predator/coral__owl.jpg"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "predator" and out["ms"] > 0
    assert set(out["models"]) == {"mobilenet_v2_imagenet", "mobilenet_v2_inat_birds"}
    assert out["models"]["mobilenet_v2_inat_birds"]["top"][0][0].startswith("Athene cunicularia")


def test_classify_chosen_model_text(capsys: pytest.CaptureFixture[str]) -> None:
    hen = str(DATA / "images/chicken/c4f__47.png")
    assert main(["classify", hen, "--model", "mobilenet_v2_imagenet"]) == 0
    out = capsys.readouterr().out
    assert "chicken" in out and "mobilenet_v2_inat_birds" not in out


def test_eval_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, ROWS)
    assert main(["eval", "--manifest", str(manifest), "--root", str(DATA), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 3  # the video row is skipped
    assert report["confusion"]["predator"]["predator"] == 1
    assert report["confusion"]["chicken"]["chicken"] == 1
    assert report["confusion"]["background"]["background"] == 1
    assert report["predator_recall"] == 1.0 and report["chicken_false_alarm"] == 0.0
    assert report["background_false_alarm"] == 0.0 and report["misses"] == []
    assert set(report["latency_ms"]) == {"median", "p99"}
    assert set(report["per_model"]) == {"mobilenet_v2_imagenet", "mobilenet_v2_inat_birds"}


def test_eval_counts_a_miss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, ["images/chicken/c4f__47.png,predator,mislabelled"])
    assert main(["eval", "--manifest", str(manifest), "--root", str(DATA), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["predator_recall"] == 0.0
    assert report["misses"][0]["verdict"] == "chicken"
    assert report["misses_by_subclass"] == {"predator/mislabelled": 1}


def test_eval_reports_people_and_scenes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Person rows are accepted (right unless called predator) and the scene column gives
    per-scene figures, among them hens recognised as chicken."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "file,label,subclass,scene,camera\n"
        "images/chicken/c4f__47.png,chicken,hen,photo,c4f\n"
        "images/predator/coral__owl.jpg,predator,owl,photo,coral\n"
        "train/person/jetinf__data_images_peds_0.jpg,person,people,photo,jetinf\n"
        "images/background/inet__n07802026_hay.JPEG,background,hay,fixed_day,inet\n")
    assert main(["eval", "--manifest", str(manifest), "--root", str(DATA), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4
    people = report["confusion"]["person"]
    assert sum(people.values()) == 1
    assert report["person_false_alarm"] == people["predator"]
    assert report["chicken_recognised"] == 1.0
    assert set(report["per_scene"]) == {"photo", "fixed_day"}
    photo = report["per_scene"]["photo"]
    assert photo["n"] == 3 and photo["chicken_recognised"] == 1.0
    assert report["per_scene"]["fixed_day"]["chicken_recognised"] is None
    assert all(m["label"] != "person" or m["verdict"] == "predator" for m in report["misses"])
    assert main(["eval", "--manifest", str(manifest), "--root", str(DATA)]) == 0
    text = capsys.readouterr().out
    assert "scene fixed_day: 1 pictures" in text and "people called predator" in text


def test_eval_bad_label_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, ["images/chicken/c4f__47.png,hen,x"])
    assert main(["eval", "--manifest", str(manifest), "--root", str(DATA)]) == 2
    assert "m.csv:2: label 'hen' is not one of" in capsys.readouterr().err


def test_classify_missing_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jpg"
    assert main(["classify", str(missing)]) == 1
    assert "nope.jpg" in capsys.readouterr().err


def test_shadow_model_is_not_on_the_critical_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "models:\n  use:\n    - {name: mobilenet_v2_imagenet, role: primary}\n"
        "    - {name: mobilenet_v1_025_imagenet, role: shadow}\n"
    )
    hen = str(DATA / "images/chicken/c4f__47.png")
    assert main(["classify", hen, "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v2_imagenet" in out and "mobilenet_v1_025_imagenet" not in out
