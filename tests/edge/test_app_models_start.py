"""The guard starts on the models it needs when something it does not need is damaged: the model
registry's file (run-time changes) or a shadow model's file. Real registry, real asset store,
real models from the shared mirror."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from classifier.config import ModelsConfig
from classifier.errors import ModelError
from classifier.registry import ModelRegistry
from edge.app import load_guarding_models, models_to_run
from edge.assets import AssetStore
from edge.config import parse_config
from edge.doctor.checks import check_models
from tests.conftest import SHARED_MODELS

PRIMARY = {"name": "mobilenet_v2_imagenet", "role": "primary", "threads": 1}
SHADOW = {"name": "mobilenet_v1_025_imagenet", "role": "shadow", "threads": 1}


def store_with(tmp_path: Path, garbled: str | None) -> AssetStore:
    """A data folder holding the two models' files, ``garbled`` overwritten with junk; no
    mirror and no network, so nothing can mend it behind the test's back."""
    for name in ("mobilenet_v2_1.0_224_quant.tflite", "mobilenet_v1_0.25_128_quant.tflite",
                 "imagenet_labels.txt"):
        shutil.copy(SHARED_MODELS / name, tmp_path / name)
    if garbled:
        (tmp_path / garbled).write_bytes(b"\x00junk" * 1000)

    def offline(url: str, dest: Path) -> None:
        raise OSError(f"offline: {url}")

    return AssetStore(data_dir=tmp_path, mirrors=[], download=offline)


@pytest.mark.parametrize("damage", [b"primary: [\n", b"roles: 5\n", b"\xff\xfe not utf-8"])
def test_a_damaged_registry_leaves_the_configuration_s_models(
    tmp_path: Path, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config({"models": {"use": [PRIMARY]}})
    (tmp_path / "models.yaml").write_bytes(damage)
    with caplog.at_level(logging.ERROR, logger="edge.app"):
        models = models_to_run(ModelRegistry(tmp_path, config.models), config)
    assert models == config.models
    assert "models.yaml: " in caplog.text and "configuration's models alone" in caplog.text
    assert "tensorchicken models reset" in caplog.text


def test_a_shadow_model_that_will_not_load_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = ModelsConfig.model_validate({"use": [PRIMARY, SHADOW], "default_head": False})
    store = store_with(tmp_path, garbled="mobilenet_v1_0.25_128_quant.tflite")
    with caplog.at_level(logging.ERROR, logger="edge.app"):
        rendezvous = load_guarding_models(cfg, store)
    try:
        assert rendezvous.model_names == ("mobilenet_v2_imagenet",)
        assert [u.name for u in rendezvous.plan.cfg.use] == ["mobilenet_v2_imagenet"]
    finally:
        rendezvous.close()
    assert "mobilenet_v1_0.25_128_quant.tflite" in caplog.text
    assert "shadow model mobilenet_v1_025_imagenet cannot be loaded, and the guard runs " \
        "without it" in caplog.text


def test_only_the_off_path_model_that_will_not_load_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    canary = {"name": "mobilenet_v2_inat_birds", "role": "canary", "threads": 1}
    cfg = ModelsConfig.model_validate({"use": [PRIMARY, SHADOW, canary], "default_head": False})
    store = store_with(tmp_path, garbled="mobilenet_v1_0.25_128_quant.tflite")
    shutil.copy(SHARED_MODELS / "mobilenet_v2_1.0_224_inat_bird_quant.tflite", tmp_path)
    shutil.copy(SHARED_MODELS / "inat_bird_labels.txt", tmp_path)
    rendezvous = load_guarding_models(cfg, store)
    try:
        assert [(u.name, u.role) for u in rendezvous.plan.cfg.use] == [
            ("mobilenet_v2_imagenet", "primary"), ("mobilenet_v2_inat_birds", "canary")]
    finally:
        rendezvous.close()


def test_a_primary_that_will_not_load_still_stops_the_start(tmp_path: Path) -> None:
    cfg = ModelsConfig.model_validate({"use": [PRIMARY, SHADOW], "default_head": False})
    store = store_with(tmp_path, garbled="mobilenet_v2_1.0_224_quant.tflite")
    with pytest.raises(ModelError, match=r"mobilenet_v2_1\.0_224_quant\.tflite"):
        load_guarding_models(cfg, store)


def test_doctor_warns_of_the_shadow_model_the_guard_starts_without(tmp_path: Path) -> None:
    config = parse_config({"models": {"use": [PRIMARY, SHADOW], "default_head": False}})
    store = store_with(tmp_path, garbled="mobilenet_v1_0.25_128_quant.tflite")
    findings = list(check_models(config, store))
    assert [(f.status, f.message.split(" ")[0]) for f in findings] == [
        ("ok", "mobilenet_v2_imagenet"), ("warn", "shadow")]
    assert "mobilenet_v1_0.25_128_quant.tflite" in findings[1].message
