"""``tensorchicken classify`` and ``tensorchicken eval`` on real photos."""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from classifier.feature_head import shipped_head
from edge.cli import main
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
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
    assert set(out["models"]) == {"mobilenet_v2_imagenet", "mobilenet_v2_inat_birds",
                                  shipped_head().name}
    assert out["models"]["mobilenet_v2_inat_birds"]["top"][0][0].startswith("Athene cunicularia")


def test_a_rat_the_imagenet_model_takes_for_a_mousetrap_is_a_predator(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """ImageNet-1k has no rat class; a mousetrap does not move, so at a coop it means a rat
    (``rat_stand_ins`` in the ImageNet verdict maps)."""
    rat = (DATA / "train/predator"
           / "ratdet__yolov7_data_train_143_jpg.rf.1b4375cd79a73b81e7c30e6894e1590e.jpg")
    assert main(["classify", str(rat), "--model", "mobilenet_v2_imagenet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"]["mobilenet_v2_imagenet"]["top"][0][0] == "mousetrap"
    assert out["verdict"] == "predator" and out["predator_score"] >= 0.9


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
    # The shipped head learnt from the shared photos: the report says so, by their bytes.
    assert report["heads_used"][0] == shipped_head().name
    assert report["trained_on"] == [r.split(",")[0] for r in ROWS if ",video," not in r]


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


def test_eval_reports_the_hens_that_reach_the_configured_chicken_veto(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hens called chicken are not all hens the veto protects: the share reaching the
    configured ``decision.chicken_veto`` is reported, from the same scores ``classify`` gives."""
    hens = ["images/chicken/c4f__47.png",
            "train/chicken/chookegg__EggCheck_image_2016-06-21_1030.jpg"]
    assert main(["classify", "--json", *(str(DATA / h) for h in hens)]) == 0
    photo, nest = (r["chicken_score"] for r in json.loads(capsys.readouterr().out))
    assert photo != nest and min(photo, nest) >= 0.4
    config = tmp_path / "veto.yaml"
    config.write_text(f"decision:\n  chicken_veto: {(photo + nest) / 2}\n")
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label,subclass,scene,camera\n"
                        f"{hens[0]},chicken,hen,photo,c4f\n"
                        f"{hens[1]},chicken,hen,fixed_day,nestbox\n"
                        "images/predator/coral__owl.jpg,predator,owl,photo,coral\n")
    args = ["eval", "--manifest", str(manifest), "--root", str(DATA), "--json"]
    assert main([*args, "-c", str(config)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chicken_recognised"] == 1.0 and report["chicken_reaching_veto"] == 0.5
    by_scene = {k: v.get("chicken_reaching_veto") for k, v in report["per_scene"].items()}
    assert by_scene == {"photo": float(photo > nest), "fixed_day": float(nest > photo)}
    assert main(args) == 0  # the default veto (0.4): both hens are over it
    assert json.loads(capsys.readouterr().out)["chicken_reaching_veto"] == 1.0


def test_eval_leaves_out_and_names_what_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Only ``file`` and ``label`` are required, paths start from the manifest's own folder by
    default, and a missing or corrupt picture is named and left out, not the end of the run."""
    (tmp_path / "owl.jpg").symlink_to(DATA / "images/predator/coral__owl.jpg")
    (tmp_path / "torn.jpg").write_bytes(b"\xff\xd8 not a whole jpeg")
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\nowl.jpg,predator\ngone.jpg,chicken\ntorn.jpg,background\n")
    with caplog.at_level(logging.WARNING, logger="edge.cli.eval"):
        assert main(["eval", "--manifest", str(manifest), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 1 and report["predator_recall"] == 1.0
    assert [u["file"] for u in report["unreadable"]] == ["gone.jpg", "torn.jpg"]
    assert "gone.jpg" in caplog.text and "torn.jpg" in caplog.text
    assert report["trained_on"] == ["owl.jpg"]  # a shared photo the shipped head learnt from
    assert main(["eval", "--manifest", str(manifest)]) == 0
    text = capsys.readouterr().out
    assert "1 pictures (2 more could not be read: left out)" in text
    assert "1 of them trained the shipped default head: their figures are not held out" in text
    # A picture of the owner's own is not among them.
    (tmp_path / "owl.jpg").unlink()
    (tmp_path / "owl.jpg").write_bytes((DATA / "images/predator/coral__owl.jpg").read_bytes()
                                       + b"\0")
    assert main(["eval", "--manifest", str(manifest), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trained_on"] == []
    # A wrong root reads nothing: that is an error that says where it looked.
    assert main(["eval", "--manifest", str(manifest), "--root", str(DATA)]) == 2
    assert "none of the 3 pictures could be read (is --root" in capsys.readouterr().err


def test_eval_manifest_not_utf8_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"file,label\nh\xe9n.jpg,chicken\n")
    assert main(["eval", "--manifest", str(manifest)]) == 2
    assert "m.csv: not UTF-8 text (byte 0xe9 at offset 12)" in capsys.readouterr().err


def test_eval_of_a_manifest_with_no_pictures_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest(tmp_path, ["video/intel__one-by-one-person-detection.mp4,video,people"])
    assert main(["eval", "--manifest", str(manifest), "--root", str(DATA)]) == 2
    assert "m.csv: no pictures to judge" in capsys.readouterr().err


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


def _png(path: Path, width: int, height: int, rows: bytes | None = None) -> Path:
    """A real greyscale PNG of any size, written row by row (zeros compress to almost nothing),
    or with ``rows`` as its pixel data (a header that claims more than the file holds)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    if rows is None:
        deflate = zlib.compressobj(1)
        line = bytes(width + 1)  # filter byte 0, then black pixels
        rows = b"".join(deflate.compress(line) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))
    return path


def test_classify_reports_each_bad_file_and_goes_on(tmp_path: Path) -> None:
    """A huge picture is refused from its header (before a decoder allocates gigabytes), a
    named pipe is refused instead of read for ever, and the good pictures are classified."""
    owl = str(DATA / "images/predator/coral__owl.jpg")
    huge = _png(tmp_path / "huge.png", 13_000, 13_000)  # a real PNG: 169 megapixels
    claims = _png(tmp_path / "claims.png", 60_000, 60_000, rows=b"")  # OpenCV's limit is 1 Gpx
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "classify", "--model", "mobilenet_v2_imagenet",
         str(huge), str(claims), str(pipe), owl, "--json"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    results = {Path(r["file"]).name: r for r in json.loads(done.stdout)}
    assert results["coral__owl.jpg"]["verdict"] == "predator"
    assert results["huge.png"]["error"].endswith(
        "huge.png: 13000x13000 pixels, more than the 150 megapixels a picture may have "
        "(0.5 GB to decode)")
    assert "60000x60000 pixels" in results["claims.png"]["error"]
    assert results["pipe.png"]["error"].endswith(
        "not a regular file (a folder, a pipe or a device)")
    assert done.stderr.count("tensorchicken classify: ") == 3


def test_classify_as_a_camera_s_crop_uses_its_own_re_fitted_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from classifier.feature_head import DEFAULT_HEAD_DIR
    from classifier.registry import ModelRegistry
    from edge.config import load_config

    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"cameras": [{"name": "nest"}, {"name": "yard"}],
                                  "paths": {"state_dir": str(tmp_path / "state")}}))
    refit = tmp_path / "scene-default-nest-1"
    shutil.copytree(DEFAULT_HEAD_DIR, refit)
    info = refit / "head.yaml"
    info.write_text(info.read_text().replace(f"version: {shipped_head().info.version}",
                                             "version: nest-1"))
    ModelRegistry(tmp_path / "state", load_config(config).models).promote_head(
        f"{shipped_head().info.name}-nest-1", refit, "nest")
    owl = str(DATA / "images/predator/coral__owl.jpg")

    def answered(*extra: str) -> set[str]:
        assert main(["classify", owl, "-c", str(config), "--json", *extra]) == 0
        return set(json.loads(capsys.readouterr().out)["models"])

    assert f"{shipped_head().info.name}-nest-1" in answered("--camera", "nest")
    assert shipped_head().name in answered("--camera", "yard")
    assert shipped_head().name in answered()  # a picture of no camera
    assert main(["classify", owl, "-c", str(config), "--camera", "porch"]) == 2
    assert "no camera named 'porch' in the configuration (cameras: nest, yard)" in (
        capsys.readouterr().err)


def test_classify_and_eval_judge_a_wide_picture_by_its_squares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hen at the right end of a wide frame is outside its centred square: both commands
    find her (classifier.still)."""
    import cv2

    hen = cv2.imread(str(DATA / "images/chicken/c4f__1.png"))
    frame = np.full((300, 960, 3), 128, np.uint8)
    frame[:, -300:] = cv2.resize(hen, (300, 300), interpolation=cv2.INTER_AREA)
    (tmp_path / "wide").mkdir()
    cv2.imwrite(str(tmp_path / "wide" / "nest.png"), frame)
    centre = tmp_path / "centre.png"
    cv2.imwrite(str(centre), frame[:, 330:630])
    assert main(["classify", str(centre), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "background"
    assert main(["classify", str(tmp_path / "wide" / "nest.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "chicken"
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label,subclass\nwide/nest.png,chicken,hen_in_a_wide_frame\n")
    assert main(["eval", "--manifest", str(manifest), "--root", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chicken_recognised"] == 1.0
