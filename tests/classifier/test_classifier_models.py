"""Loading models safely: each wrong file fails at load with a message naming it and the problem."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from classifier import ModelError
from classifier.loader import load_model
from classifier.model import TFLiteModel, check_tensors
from classifier.spec import ModelSpec, load_specs
from edge.assets import AssetFile, AssetStore, load_manifest
from groundwork.digest import sha256_of

SPECS = load_specs()
MANIFEST = load_manifest()


def _store(tmp_path: Path, files: dict[str, Path]) -> AssetStore:
    """An asset store over local files, each entered in the manifest with its real sha256."""
    manifest = dict(MANIFEST)
    for name, src in files.items():
        manifest[name] = AssetFile(
            name, name, "https://invalid.example/" + name, "models", "test",
            size=src.stat().st_size, sha256=sha256_of(src),
        )
    mirror = tmp_path / "mirror"
    mirror.mkdir(exist_ok=True)
    for name, src in files.items():
        shutil.copyfile(src, mirror / name)
    return AssetStore(
        tmp_path / "assets", mirrors=[mirror, *AssetStore().mirrors], manifest=manifest
    )


def _spec(name: str, **changes: object) -> ModelSpec:
    return SPECS[name].model_copy(update=changes)


def test_every_classifier_in_the_manifest_loads(asset_store: AssetStore) -> None:
    for spec in SPECS.values():
        if spec.name == "inception_v3_imagenet":
            continue  # not in this machine's mirror: tests/classifier/test_inception.py
        model = load_model(spec, asset_store, threads=1)
        assert model.input.shape == spec.input.shape


def test_damaged_file_fails_its_sha256(tmp_path: Path, asset_store: AssetStore) -> None:
    good = asset_store.path("mobilenet_v1_0.25_128_quant.tflite")
    store = AssetStore(tmp_path, mirrors=[], manifest=MANIFEST)
    target = store.local_path("mobilenet_v1_0.25_128_quant.tflite")
    target.write_bytes(good.read_bytes()[:100_000])  # truncated copy already in place
    with pytest.raises(ModelError, match=r"mobilenet_v1_0.25_128_quant.tflite: sha256 is"):
        load_model(SPECS["mobilenet_v1_025_imagenet"], store, threads=1)


def test_truncated_file_the_manifest_trusts_fails_to_load(
    tmp_path: Path, asset_store: AssetStore
) -> None:
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(asset_store.path("mobilenet_v1_0.25_128_quant.tflite").read_bytes()[:200_000])
    store = _store(tmp_path, {"cut.tflite": cut})
    with pytest.raises(ModelError, match=r"cut.tflite.*not a TFLite model"):
        load_model(_spec("mobilenet_v1_025_imagenet", file="cut.tflite"), store, threads=1)


def test_wrong_model_fails_on_its_input_shape(asset_store: AssetStore) -> None:
    spec = _spec("mobilenet_v2_imagenet", file="mobilenet_v1_0.25_128_quant.tflite")
    with pytest.raises(
        ModelError, match=r"0.25_128_quant.tflite.*input shape is \[1, 128, 128, 3\]"
    ):
        load_model(spec, asset_store, threads=1)


def test_embedding_model_declared_as_classifier_fails_on_output_size(
    asset_store: AssetStore,
) -> None:
    spec = _spec(
        "mobilenet_v2_imagenet", file="mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
    )
    with pytest.raises(
        ModelError, match=r"output has 1024 values but imagenet_labels.txt gives 1001"
    ):
        load_model(spec, asset_store, threads=1)


def test_labels_of_the_wrong_length(tmp_path: Path, asset_store: AssetStore) -> None:
    labels = tmp_path / "short_labels.txt"
    lines = asset_store.path("imagenet_labels.txt").read_text().splitlines()[1:]
    labels.write_text("\n".join(lines) + "\n")
    store = _store(tmp_path, {"short_labels.txt": labels})
    spec = _spec("mobilenet_v1_025_imagenet", labels="short_labels.txt")
    with pytest.raises(ModelError, match=r"output has 1001 values but short_labels.txt gives 1000"):
        load_model(spec, store, threads=1)
    # The same file is right when the manifest says the labels start at output 1.
    assert (
        load_model(spec.model_copy(update={"label_offset": 1}), store, threads=1).labels[0]
        != "background"
    )


def test_float_model_where_a_quantised_one_is_declared(asset_store: AssetStore) -> None:
    # No float model file is at hand, so the interpreter's own tensor details are turned into
    # those of a float model (what TFLite reports for one: float32, quantization (0.0, 0)).
    spec = SPECS["mobilenet_v1_025_imagenet"]
    model = load_model(spec, asset_store, threads=1)
    details_in = model._interpreter.get_input_details()
    details_out = model._interpreter.get_output_details()
    as_float = [{**d, "dtype": np.float32, "quantization": (0.0, 0)} for d in details_in]
    with pytest.raises(ModelError, match=r"0.25_128_quant.tflite.*input dtype is float32"):
        check_tensors(spec, model.path, as_float, details_out, len(model.labels))
    float_spec = spec.model_copy(
        update={"input": spec.input.model_copy(update={"dtype": "float32"})}
    )
    with pytest.raises(ModelError, match=r"declares a quantised model but its input is float32"):
        check_tensors(float_spec, model.path, as_float, details_out, len(model.labels))
    declared_float = spec.model_copy(update={"quantised": False})
    with pytest.raises(ModelError, match=r"declares a float model but its input is quantised"):
        check_tensors(declared_float, model.path, details_in, details_out, len(model.labels))


def test_model_missing_from_files_list(asset_store: AssetStore) -> None:
    with pytest.raises(ModelError, match=r"absent.tflite: not in the manifest's files"):
        load_model(_spec("mobilenet_v2_imagenet", file="absent.tflite"), asset_store, threads=1)


def test_archive_member_goes_through_the_same_checks(
    tmp_path: Path, asset_store: AssetStore
) -> None:
    archive = tmp_path / "small.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(
            asset_store.path("mobilenet_v1_0.25_128_quant.tflite"), arcname="small/model.tflite"
        )
    store = _store(tmp_path, {"small.tgz": archive})
    spec = _spec(
        "mobilenet_v1_025_imagenet",
        file="small.tgz",
        member="model.tflite",
        member_sha256=MANIFEST["mobilenet_v1_0.25_128_quant.tflite"].sha256,
    )
    model = load_model(spec, store, threads=1)
    assert isinstance(model, TFLiteModel) and model.path.name == "model.tflite"
    wrong = spec.model_copy(update={"member_sha256": "0" * 64})
    with pytest.raises(ModelError, match=r"model.tflite: sha256 is"):
        load_model(wrong, store, threads=1)
    with pytest.raises(ModelError, match=r"small.tgz: holds no regular file named other.tflite"):
        load_model(
            spec.model_copy(update={"member": "other.tflite", "member_sha256": None}), store, 1
        )


def test_input_preparation_follows_the_tensor(asset_store: AssetStore) -> None:
    model = load_model(SPECS["tf2_mobilenet_v2_imagenet"], asset_store, threads=1)
    rgb = np.zeros((300, 500, 3), np.uint8)
    rgb[..., 0] = 255
    values = model.prepare(rgb)
    assert values.shape == (1, 224, 224, 3) and values.dtype == np.uint8
    # Centre crop of a uniform picture: red 255 -> 254 (zp 127, scale 1/127.5), others 0.
    assert values[0, 100, 100].tolist() == [254, 0, 0]
    grey = model.prepare(np.full((50, 50), 128, np.uint8))
    # 128 -> 127.4999...: the file's scale is float32 0.0078431377, a hair above 1/127.5.
    assert grey[0, 0, 0].tolist() == [127, 127, 127]
