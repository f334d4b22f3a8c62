"""The default head's builder: the same manifests give the same weights; the head records what
it was trained on."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import yaml

from classifier.feature_head import load_feature_head
from edge.assets import sha256_of

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_default_head.py"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _small_manifest(tmp_path: Path) -> Path:
    """A few rows of every label (people too) from the training corpus, several cameras."""
    with (DATA / "train" / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = reader.fieldnames or []
    picked: list[dict[str, str]] = []
    for label, n in (("chicken", 4), ("predator", 4), ("background", 3), ("person", 2)):
        picked += [r for r in rows if r["label"] == label][:n]
    path = tmp_path / "MANIFEST.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(picked)
    return path


def _build(manifest: Path, out: Path) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(DATA), "--manifest", str(manifest),
         "--out", str(out), "--folds", "0", "--threads", "1"],
        check=True, capture_output=True, text=True, timeout=900)


def test_the_builder_gives_the_same_weights_twice_and_records_its_files(
    tmp_path: Path, asset_store: object
) -> None:
    manifest = _small_manifest(tmp_path)
    _build(manifest, tmp_path / "a")
    _build(manifest, tmp_path / "b")
    assert (tmp_path / "a" / "head.npz").read_bytes() == (tmp_path / "b" / "head.npz").read_bytes()
    head = load_feature_head(tmp_path / "a")
    assert head.head.inputs == 2560 and head.sources == (
        "mobilenet_v2_imagenet", "mobilenet_v2_inat_birds")
    info = yaml.safe_load((tmp_path / "a" / "head.yaml").read_text())
    assert info["training"]["manifests"][0]["sha256"] == sha256_of(manifest)
    listed = (tmp_path / "a" / "training_files.txt").read_text().splitlines()
    assert len(listed) == 13 == info["training"]["files"]["count"]
    assert info["training"]["files"]["sha256"] == sha256_of(tmp_path / "a" / "training_files.txt")
    with manifest.open(newline="", encoding="utf-8") as fh:
        hashes = {r["sha256"] for r in csv.DictReader(fh)}
    assert {line.split()[0] for line in listed} == hashes
