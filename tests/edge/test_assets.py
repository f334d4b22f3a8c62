"""Assets: fetched from mirrors (or the network), verified by sha256, never half-written."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from edge.assets import AssetError, AssetFile, AssetStore, git_blob_of, load_manifest
from edge.cli import main
from groundwork.digest import sha256_of
from tests.conftest import SHARED_DATA, SHARED_MODELS
from tests.events.conftest import mounted_tmpfs

LABELS = "imagenet_labels.txt"


def test_the_manifest_matches_the_shared_mirror() -> None:
    files = load_manifest()
    assert {"mobilenet_v2_1.0_224_quant.tflite", "intel__one-by-one-person-detection.mp4"} <= set(
        files
    )
    for entry in files.values():
        assert entry.url.startswith("https://"), entry.name
        if entry.git_blob is not None:
            continue  # Inception: not in the mirror (test_a_file_known_by_its_git_blob_id...)
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


def test_a_mirror_folder_that_is_not_there_is_named(tmp_path: Path) -> None:
    def offline(url: str, dest: Path) -> None:
        raise OSError("network is unreachable")

    store = AssetStore(tmp_path / "data", mirrors=[tmp_path / "usb-stick"], download=offline)
    with pytest.raises(AssetError, match=r"no such mirror folder: .*usb-stick\)"):
        store.path(LABELS)


def test_a_full_data_folder_is_said_not_a_missing_mirror(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(SHARED_MODELS / LABELS, mirror / LABELS)

    def offline(url: str, dest: Path) -> None:
        raise OSError("network is unreachable")

    data = tmp_path / "data"
    with mounted_tmpfs(data, "1m"):  # a real filesystem, filled up
        subprocess.run(["dd", "if=/dev/zero", f"of={data / 'filler'}", "bs=64k"],
                       capture_output=True)
        store = AssetStore(data, mirrors=[mirror], download=offline)
        with pytest.raises(AssetError, match=r"\. The data folder .* is full: free some space\.$"):
            store.path(LABELS)


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


# Blob ids in google-coral/test_data's tree at commit 104342d (../shared/models/README.md).
PUBLISHED_BLOBS = {
    "mobilenet_v2_1.0_224_quant.tflite": "03533c32dacc1456ff3fe951ebdd5b967ce9e6a0",
    "mobilenet_v2_1.0_224_inat_bird_quant.tflite": "225ffa93c74237a64e1a5782fce3dfbc61f9d380",
    "mobilenet_v1_0.25_128_quant.tflite": "22b67d6a63753ad9907a4c8505632479ac439b94",
    "imagenet_labels.txt": "0f975ffd415baaea2267b4363717daff56451ad0",
    "inat_bird_labels.txt": "dfe4777e80d5086d4dfc047c2ee251924a58a401",
}


def blob_manifest(**blobs: str) -> dict[str, AssetFile]:
    """The shipped entries of ``blobs``' files, known by a git blob id instead of a sha256."""
    shipped = load_manifest()
    return {
        name: AssetFile(name, shipped[name].path, shipped[name].url, "models", "test",
                        git_blob=blob)
        for name, blob in blobs.items()
    }


def test_files_known_by_their_git_blob_id_are_verified_and_their_sha256_recorded(
    tmp_path: Path,
) -> None:
    store = AssetStore(tmp_path, mirrors=[SHARED_MODELS], manifest=blob_manifest(**PUBLISHED_BLOBS))
    shipped = load_manifest()
    lines = store.fetch()
    assert all(line.startswith("fetched  ") for line in lines), lines
    for name in PUBLISHED_BLOBS:
        assert git_blob_of(store.local_path(name)) == PUBLISHED_BLOBS[name]
        # The sha256 recorded is the published one of the same bytes, in sha256sum's format.
        record = (tmp_path / (name + ".sha256")).read_text()
        assert record == f"{shipped[name].sha256}  {name}\n"
        assert store.sha256(name) == shipped[name].sha256
    assert store.fetch() == [f"ok       {name}" for name in PUBLISHED_BLOBS]


def test_later_loads_check_the_recorded_sha256(tmp_path: Path) -> None:
    name = "mobilenet_v1_0.25_128_quant.tflite"
    blobs = {name: PUBLISHED_BLOBS[name]}
    AssetStore(tmp_path, mirrors=[SHARED_MODELS], manifest=blob_manifest(**blobs)).fetch()
    local = tmp_path / name
    local.write_bytes(local.read_bytes()[:-1] + b"x")  # one byte changed on the card
    store = AssetStore(tmp_path, mirrors=[], manifest=blob_manifest(**blobs))
    with pytest.raises(AssetError, match=rf"{name}: sha256 is .*Delete it and run"):
        store.fetch()
    from classifier import ModelError
    from classifier.loader import load_model
    from classifier.spec import load_specs

    with pytest.raises(ModelError, match=rf"{name}: sha256 is"):
        load_model(load_specs()["mobilenet_v1_025_imagenet"], store, threads=1)


def test_a_copy_put_in_place_by_hand_has_its_blob_id_checked_once(tmp_path: Path) -> None:
    name = "imagenet_labels.txt"
    shutil.copyfile(SHARED_MODELS / name, tmp_path / name)
    manifest = blob_manifest(**{name: PUBLISHED_BLOBS[name]})
    store = AssetStore(tmp_path, mirrors=[], manifest=manifest)
    assert store.sha256(name) == sha256_of(SHARED_MODELS / name)
    assert (tmp_path / (name + ".sha256")).is_file()


def test_a_file_whose_blob_id_differs_is_refused_and_nothing_is_recorded(tmp_path: Path) -> None:
    name = "mobilenet_v2_1.0_224_quant.tflite"
    wrong = PUBLISHED_BLOBS["mobilenet_v2_1.0_224_inat_bird_quant.tflite"]

    def offline(url: str, dest: Path) -> None:
        raise OSError("network is unreachable")

    store = AssetStore(tmp_path, mirrors=[SHARED_MODELS], manifest=blob_manifest(**{name: wrong}),
                       download=offline)
    with pytest.raises(AssetError, match=rf"git blob id is 03533c32.*the manifest says {wrong}"):
        store.path(name)
    assert list(tmp_path.iterdir()) == []


def test_a_manifest_entry_needs_exactly_one_hash(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    entry = {"name": "x.bin", "path": "x.bin", "url": "https://example.invalid/x.bin",
             "group": "models", "licence": "test"}
    manifest.write_text(yaml.safe_dump({"files": [entry]}))
    with pytest.raises(AssetError, match=r"files entry x\.bin: give either sha256 or git_blob"):
        load_manifest(manifest)
    manifest.write_text(yaml.safe_dump({"files": [{**entry, "sha256": "a", "git_blob": "b"}]}))
    with pytest.raises(AssetError, match=r"files entry x\.bin: give either sha256 or git_blob"):
        load_manifest(manifest)


def test_a_fetched_file_and_its_folder_reach_the_disk(tmp_path: Path, fsynced: list[str]) -> None:
    store = AssetStore(tmp_path, mirrors=[SHARED_MODELS])
    target = store.path(LABELS)
    # The copy is flushed before the rename and the folder after it: a power cut leaves no
    # empty or missing file under the real name.
    assert fsynced[-1] == str(target.parent)
    assert any(p.startswith(str(target.parent / f".{target.name}.")) for p in fsynced)
