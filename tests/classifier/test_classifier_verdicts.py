"""The verdict maps: reviewed data whose every label exists in its model's labels file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier import ModelError, Verdict
from classifier.loader import read_labels
from classifier.spec import load_specs
from classifier.verdict_map import load_verdict_map, read_groups, verdicts_dir
from edge.assets import AssetStore

SPECS = {n: s for n, s in load_specs().items() if s.verdicts}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_listed_label_exists(name: str, asset_store: AssetStore) -> None:
    spec = SPECS[name]
    assert spec.labels and spec.verdicts
    labels = read_labels(asset_store.path(spec.labels))
    path = verdicts_dir() / spec.verdicts
    vm = load_verdict_map(path, labels, spec.label_offset)  # raises on a label not in the file
    listed = [
        label for groups in read_groups(path).values() for ls in groups.values() for label in ls
    ]
    assert set(listed) <= set(labels)
    assert len(vm.chicken) >= 2 and len(vm.predator) >= 10
    assert not set(vm.chicken) & set(vm.predator)


def test_maps_hold_the_named_labels(asset_store: AssetStore) -> None:
    imagenet = read_labels(asset_store.path("imagenet_labels.txt"))
    vm = load_verdict_map(verdicts_dir() / "mobilenet_v2_imagenet.yaml", imagenet)
    assert vm.verdict_of("hen") is Verdict.CHICKEN and vm.verdict_of("cock") is Verdict.CHICKEN
    for label in (
        "jay",
        "magpie",
        "red fox, Vulpes vulpes",
        "weasel",
        "skunk, polecat, wood pussy",
        "tabby, tabby cat",
        "beagle",
        "American black bear, black bear, Ursus americanus, Euarctos americanus",
        "king snake, kingsnake",
        "great grey owl, great gray owl, Strix nebulosa",
    ):
        assert vm.verdict_of(label) is Verdict.PREDATOR, label
    assert vm.verdict_of("ruffed grouse, partridge, Bonasa umbellus") is Verdict.BACKGROUND
    assert imagenet.index("ruffed grouse, partridge, Bonasa umbellus") in vm.birds
    inat = read_labels(asset_store.path("inat_bird_labels.txt"))
    vb = load_verdict_map(verdicts_dir() / "mobilenet_v2_inat_birds.yaml", inat)
    assert vb.verdict_of("Gallus gallus domesticus (Domestic Chicken)") is Verdict.CHICKEN
    for label in (
        "Aphelocoma californica (California Scrub-Jay)",
        "Corvus corax (Common Raven)",
        "Pica pica (Eurasian Magpie)",
        "Accipiter cooperii (Cooper's Hawk)",
        "Falco peregrinus (Peregrine Falcon)",
        "Athene cunicularia (Burrowing Owl)",
    ):
        assert vb.verdict_of(label) is Verdict.PREDATOR, label
    assert vb.verdict_of("background") is Verdict.BACKGROUND
    assert vb.birds.size == 0 and isinstance(vb.predator, np.ndarray)


def test_a_typo_is_an_error_naming_the_file_and_group(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("chicken:\n  fowl: [hen]\npredator:\n  canids: [red fox]\n")
    with pytest.raises(ModelError, match=r"bad.yaml: predator.canids: 'red fox' is not a label"):
        load_verdict_map(path, ["background", "hen", "red fox, Vulpes vulpes"])


def test_a_label_listed_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("chicken:\n  fowl: [hen]\npredator:\n  odd: [hen]\n")
    with pytest.raises(ModelError, match="listed twice"):
        load_verdict_map(path, ["hen"])


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text("chicken: {}\nfriends:\n  dogs: [hen]\n")
    with pytest.raises(ModelError, match=r"extra\.yaml: a verdict map has only"):
        load_verdict_map(path, ["hen"])


@pytest.mark.parametrize("name", sorted(n for n in SPECS if n.endswith("imagenet")))
def test_every_imagenet_map_takes_a_mousetrap_for_a_rat_and_leaves_harmless_rodents_alone(
    name: str, asset_store: AssetStore
) -> None:
    """Not "hamster": an empty nest-box frame under IR gets enough of it to be a predator."""
    spec = SPECS[name]
    assert spec.labels and spec.verdicts
    labels = read_labels(asset_store.path(spec.labels))
    vm = load_verdict_map(verdicts_dir() / spec.verdicts, labels, spec.label_offset)
    assert vm.verdict_of("mousetrap") is Verdict.PREDATOR
    for harmless in ("hamster", "wood rabbit, cottontail, cottontail rabbit",
                     "fox squirrel, eastern fox squirrel, Sciurus niger"):
        assert vm.verdict_of(harmless) is Verdict.BACKGROUND, harmless
