"""The second look: the extractor runs only on crops the default head leaves undecided, and its
head then decides in the default head's place (real models, real pictures)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from classifier import ModelError, Verdict, load_classifier, load_image
from classifier.blend import blend
from classifier.config import ModelsConfig
from classifier.feature_head import SECOND_LOOK_DIR, shipped_head
from classifier.second_look import SecondLook, load_second_look, try_load_second_look
from edge.assets import AssetStore
from tests.conftest import SHARED_DATA

# A badger at a trail camera by day: the default head leaves it under the threshold; the second
# look (trained on it, as the shipped heads were on every corpus picture) calls it a predator.
BADGER = SHARED_DATA / "train" / "predator" / "carpat__data_example_photos_badger_example_2.jpg"
HEN = SHARED_DATA / "train" / "chicken" / "chookegg__EggCheck_image_2016-06-17_1430.jpg"


@pytest.fixture()
def embeds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the second look's extractor runs."""
    calls: list[int] = []
    real = SecondLook.embed

    def counted(self: SecondLook, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        calls.append(1)
        return real(self, rgb)

    monkeypatch.setattr(SecondLook, "embed", counted)
    return calls


def test_an_undecided_crop_gets_a_second_look_which_decides_in_the_default_head_s_place(
    asset_store: AssetStore, embeds: list[int]
) -> None:
    badger = load_image(BADGER)
    with load_classifier(ModelsConfig(second_look=False), asset_store) as first:  # type: ignore[call-arg]
        assert first.second_look is None
        once = first.classify(badger)
    assert not embeds
    with load_classifier(ModelsConfig(), asset_store) as both:  # type: ignore[call-arg]
        look = both.second_look
        assert look is not None and look.undecided_from == 0.2  # on by default, as shipped
        answer = both.classify(badger)
    assert len(embeds) == 1
    assert look.undecided(once.predator_score, 0.5) and once.verdict is not Verdict.PREDATOR
    # Both heads' answers are kept; the second look's is the one blended.
    default, second = answer.models[shipped_head().name], answer.models[look.head.name]
    assert default.predator_score == pytest.approx(once.models[default.model].predator_score)
    assert answer.verdict is Verdict.PREDATOR
    zero_shot = once.models["mobilenet_v2_imagenet"].predator_score
    expected = blend(second.predator_score, zero_shot, look.head.info.blend)
    assert answer.predator_score == pytest.approx(expected, abs=5e-3)
    assert second.invoke_ms > default.invoke_ms  # the extractor's invoke is counted in


def test_a_crop_the_default_head_is_sure_of_never_runs_the_extractor(
    asset_store: AssetStore, embeds: list[int]
) -> None:
    with load_classifier(ModelsConfig(), asset_store) as classifier:  # type: ignore[call-arg]
        assert classifier.second_look is not None
        answer = classifier.classify(load_image(HEN))
    assert answer.verdict is Verdict.CHICKEN and answer.predator_score < 0.2
    assert not embeds
    assert classifier.second_look.head.name not in answer.models


def test_a_camera_with_its_own_re_fit_is_decided_by_it_without_a_second_look(
    asset_store: AssetStore, embeds: list[int]
) -> None:
    with load_classifier(ModelsConfig(), asset_store) as classifier:  # type: ignore[call-arg]
        assert classifier.head is not None
        classifier.camera_heads = {"coop": classifier.head}  # a re-fit stands in its place
        answer = classifier.classify(load_image(BADGER), camera="coop")
        other = classifier.classify(load_image(BADGER), camera="yard")
    assert len(embeds) == 1  # the yard's crop only
    assert answer.verdict is not Verdict.PREDATOR and other.verdict is Verdict.PREDATOR


def _copy_with(tmp_path: Path, change: dict[str, Any]) -> Path:
    folder = tmp_path / "second_look"
    shutil.copytree(SECOND_LOOK_DIR, folder)
    info = yaml.safe_load((folder / "head.yaml").read_text(encoding="utf-8"))
    for key, value in change.items():
        if key == "extractor_sha256":
            info["sources"][-1]["sha256"] = value
        else:
            info[key] = value
    (folder / "head.yaml").write_text(yaml.safe_dump(info), encoding="utf-8")
    return folder


def test_a_second_look_trained_on_another_extractor_file_or_without_a_band_is_refused(
    asset_store: AssetStore, tmp_path: Path
) -> None:
    other = _copy_with(tmp_path / "a", {"extractor_sha256": "0" * 64})
    with pytest.raises(ModelError, match="trained on extractor mobilenet_v1_embedding"):
        load_second_look(asset_store, folder=other)
    plain = _copy_with(tmp_path / "b", {"undecided_from": None})
    with pytest.raises(ModelError, match="not a second look"):
        load_second_look(asset_store, folder=plain)


def test_without_its_files_the_default_head_decides_alone(
    asset_store: AssetStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    import classifier.second_look as module

    monkeypatch.setattr(module, "SECOND_LOOK_DIR", tmp_path / "missing")
    assert try_load_second_look(asset_store) is None
    assert "the second look is not used" in caplog.text and "missing" in caplog.text
    with load_classifier(ModelsConfig(), asset_store) as classifier:  # type: ignore[call-arg]
        assert classifier.head is not None and classifier.second_look is None
        assert classifier.classify(load_image(BADGER)).verdict is not Verdict.PREDATOR


def test_the_shipped_second_look_reads_the_default_head_s_features_and_the_extractor_s() -> None:
    info = yaml.safe_load((SECOND_LOOK_DIR / "head.yaml").read_text(encoding="utf-8"))
    default = shipped_head().info
    assert info["sources"][:-1] == [s.model_dump() for s in default.sources]
    assert info["sources"][-1]["model"] == "mobilenet_v1_embedding"
    assert info["undecided_from"] == 0.2 and info["blend"] == default.blend
    # Its points were chosen on the cascade with the default head (held out by camera).
    cascade = info["metrics"]["held_out_by_camera"]["with_the_default_head"]
    shipped = default.metrics["held_out_by_camera"]["as_shipped"]
    assert cascade["predator_recall"] > shipped["predator_recall"]
    assert cascade["chicken_false_alarm"] <= 0.01
    for rate in ("background_false_alarm", "person_false_alarm"):
        assert cascade[rate] <= shipped[rate]


def test_models_list_and_doctor_say_when_the_second_look_does_not_load(
    asset_store: AssetStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import classifier.feature_head as feature_head
    from edge.config import parse_config
    from edge.doctor.checks import check_learning

    config = parse_config({"cameras": [{"name": "nest"}],
                           "paths": {"state_dir": str(tmp_path / "state")}})
    assert not [f for f in check_learning(config, asset_store) if "second look" in f.message]
    monkeypatch.setattr(feature_head, "SECOND_LOOK_DIR", tmp_path / "missing")
    look = feature_head.heads_in_use(ModelsConfig())["second_look"]  # type: ignore[call-arg]
    assert look["error"] is not None and "missing" in look["error"]
    (warned,) = [f for f in check_learning(config, asset_store) if "second look" in f.message]
    assert warned.status == "warn" and "the default head decides every crop" in warned.message
    off = ModelsConfig(second_look=False)  # type: ignore[call-arg]
    assert feature_head.heads_in_use(off)["second_look"] is None
