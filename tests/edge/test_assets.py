"""Assets: fetched from mirrors (or the network), verified by sha256, never half-written."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from edge.assets import AssetError, AssetStore, load_manifest
from edge.cli import main
from tests.conftest import SHARED_DATA, SHARED_MODELS

LABELS = "imagenet_labels.txt"


def test_the_manifest_matches_the_shared_mirror() -> None:
    files = load_manifest()
    assert {"mobilenet_v2_1.0_224_quant.tflite", "intel__one-by-one-person-detection.mp4"} <= set(
        files
    )
    for entry in files.values():
        assert entry.url.startswith("https://"), entry.name
        local = SHARED_MODELS / entry.path if entry.group == "models" else SHARED_DATA / entry.path
        assert hashlib.sha256(local.read_bytes()).hexdigest() == entry.sha256, entry.name


def test_fetch_from_a_mirror_then_reuse(tmp_path: Path) -> None:
    calls: list[str] = []
    store = AssetStore(
        tmp_path / "data", mirrors=[SHARED_MODELS], download=lambda url, _: calls.append(url)
    )
    first = store.fetch([LABELS])
    assert first == [f"fetched  {LABELS} from {SHARED_MODELS / LABELS}"]
    assert store.fetch([LABELS]) == [f"ok       {LABELS}"]
    assert store.resolve(f"asset:{LABELS}") == str(tmp_path / "data" / LABELS)
    assert store.resolve("/dev/video0") == "/dev/video0"
    assert calls == []


def test_a_corrupt_mirror_copy_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / LABELS).write_text("not the labels\n")

    def offline(url: str, dest: Path) -> None:
        raise OSError("network is unreachable")

    store = AssetStore(tmp_path / "data", mirrors=[mirror], download=offline)
    with pytest.raises(AssetError) as info:
        store.path(LABELS)
    message = str(info.value)
    assert message.startswith(f"{LABELS}: could not be fetched")
    assert "sha256 is" in message and "network is unreachable" in message
    assert "point --mirror or TENSORCHICKEN_MIRROR at a folder holding it" in message
    assert list((tmp_path / "data").iterdir()) == []  # no half or wrong file left behind


def test_a_damaged_local_copy_is_named_with_what_to_do(tmp_path: Path) -> None:
    store = AssetStore(tmp_path, mirrors=[SHARED_MODELS])
    store.fetch([LABELS])
    (tmp_path / LABELS).write_text("truncated")
    with pytest.raises(
        AssetError,
        match=r"imagenet_labels.txt: sha256 is .* Delete it and run 'tensorchicken fetch-models'",
    ):
        store.fetch([LABELS])


def test_download_is_used_when_no_mirror_has_it(tmp_path: Path) -> None:
    source = SHARED_MODELS / LABELS
    entry = load_manifest()[LABELS]
    got: list[str] = []

    def download(url: str, dest: Path) -> None:
        got.append(url)
        shutil.copyfile(source, dest)

    store = AssetStore(
        tmp_path, mirrors=[tmp_path / "empty"], manifest={LABELS: entry}, download=download
    )
    assert store.path(LABELS).read_bytes() == source.read_bytes()
    assert got == [entry.url]


def test_unknown_asset() -> None:
    store = AssetStore(Path("/nonexistent"), mirrors=[], manifest={})
    with pytest.raises(AssetError, match=r"^nope\.bin: not in the asset manifest$"):
        store.path("nope.bin")


def test_fetch_models_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENSORCHICKEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TENSORCHICKEN_MIRROR", "")
    assert main(["fetch-models", "--group", "models", "--mirror", str(SHARED_MODELS)]) == 0
    out = capsys.readouterr().out
    assert out.count("fetched  ") == 8
    assert out.strip().endswith(f"8 file(s) verified in {tmp_path}")
