"""Inception v3 as an owner chooses it: fetched by its git blob id, loaded with its own verdict
map, and run as a primary, a critical model or a shadow.

The real file (23 MB) cannot be downloaded on the build machine, so a stand-in takes its place:
the bytes of ``mobilenet_v2_1.0_224_quant.tflite`` under Inception's file name, known by their
own published blob id, and Inception's manifest declaration with the stand-in's input size. Every
other part is the shipped one: the files entry (address, blob-id check, recorded sha256), the
labels and ``models/verdicts/inception_v3_imagenet.yaml``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from classifier import ModelError, crop_square, load_image
from classifier.loader import load_model
from classifier.rendezvous import Rendezvous, load_rendezvous
from classifier.spec import ModelSpec, load_specs
from classifier.verdict import Verdict
from classifier.verdict_map import load_verdict_map, verdicts_dir
from edge.assets import AssetStore, load_manifest
from edge.cli import main
from groundwork.digest import sha256_of
from tests.conftest import SHARED_DATA, SHARED_MODELS
from tests.rendezvous.conftest import uses

INCEPTION = "inception_v3_imagenet"
FILE = "inception_v3_299_quant.tflite"
STAND_IN = "mobilenet_v2_1.0_224_quant.tflite"
# The stand-in's bytes' blob id in google-coral/test_data's tree (../shared/models/README.md).
STAND_IN_BLOB = "03533c32dacc1456ff3fe951ebdd5b967ce9e6a0"
V2 = "mobilenet_v2_imagenet"



@pytest.fixture(scope="module")
def raccoon() -> np.ndarray:
    rgb = load_image(SHARED_DATA / "images/predator/raccoon__raccoon-7.jpg")
    return crop_square(np.ascontiguousarray(rgb[..., ::-1]), [], size=224)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> tuple[AssetStore, dict[str, ModelSpec]]:
    tmp = tmp_path_factory.mktemp("inception")
    mirror = tmp / "mirror"
    mirror.mkdir()
    shutil.copyfile(SHARED_MODELS / STAND_IN, mirror / FILE)
    manifest = load_manifest()
    shipped = manifest[FILE]
    assert shipped.sha256 is None and shipped.git_blob == "8c52290bbb4120cbc61eb9a8979ed18da158403c"
    manifest[FILE] = dataclasses.replace(shipped, git_blob=STAND_IN_BLOB)
    store = AssetStore(tmp / "assets", mirrors=[mirror, SHARED_MODELS], manifest=manifest)
    specs = load_specs()
    real = specs[INCEPTION]
    assert real.input.shape == (1, 299, 299, 3) and real.file == FILE
    specs[INCEPTION] = real.model_copy(
        update={"input": real.input.model_copy(update={"shape": (1, 224, 224, 3)})}
    )
    return store, specs


def test_inception_is_fetched_by_its_blob_id_and_loads_with_its_verdict_map(
    stand_in: tuple[AssetStore, dict[str, ModelSpec]],
) -> None:
    store, specs = stand_in
    model = load_model(specs[INCEPTION], store, threads=1)
    record = store.local_path(FILE).with_name(FILE + ".sha256")
    assert record.read_text().split()[0] == sha256_of(SHARED_MODELS / STAND_IN)
    reviewed = load_verdict_map(verdicts_dir() / "inception_v3_imagenet.yaml", model.labels)
    for group in ("chicken", "predator", "birds"):
        assert np.array_equal(getattr(model.verdicts, group), getattr(reviewed, group)), group


@pytest.mark.parametrize(
    ("entries", "where"),
    [(((INCEPTION, "primary"),), "decides"),
     (((V2, "primary"), (INCEPTION, "critical")), "decides"),
     (((V2, "primary"), (INCEPTION, "shadow")), "joins")],
    ids=["primary", "critical", "shadow"],
)
def test_inception_runs_in_each_role(
    stand_in: tuple[AssetStore, dict[str, ModelSpec]], raccoon: np.ndarray,
    entries: tuple[tuple[str, str], ...], where: str,
) -> None:
    store, specs = stand_in
    cfg = uses(*entries, deadline_ms=30000, join_wait_ms=5000)
    rendezvous: Rendezvous = load_rendezvous(cfg, store, specs)
    try:
        answer = rendezvous.classify(raccoon)
        if where == "decides":
            score = answer.models[INCEPTION]
        else:
            joined = rendezvous.join(answer.ticket)
            assert joined is not None and INCEPTION in joined.scores, joined
            score = joined.scores[INCEPTION]
        assert score.verdict == Verdict.PREDATOR, score
        roles = {m["name"]: m["role"] for m in rendezvous.status()["models"]}
        assert roles[INCEPTION] == dict(entries)[INCEPTION]
    finally:
        rendezvous.close()


def test_without_the_file_loading_names_its_address_and_the_mirror(tmp_path: Path) -> None:
    def offline(url: str, dest: Path) -> None:
        raise OSError("network is unreachable")

    store = AssetStore(tmp_path, mirrors=[SHARED_MODELS], download=offline)
    with pytest.raises(ModelError, match=rf"{FILE}: could not be fetched \(https://github.com/"
                       r"google-coral/test_data/raw/104342d.*network is unreachable.*--mirror"):
        load_model(load_specs()[INCEPTION], store, threads=1)


def test_models_list_shows_inception_in_its_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "models": {"use": [{"name": V2, "role": "primary"},
                           {"name": INCEPTION, "role": "shadow"}]},
        "paths": {"state_dir": str(tmp_path / "state")},
    }))
    assert main(["models", "list", "-c", str(config), "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed[INCEPTION]["role"] == "shadow"
    assert listed[INCEPTION]["version"] == "coral-test_data@104342d"
