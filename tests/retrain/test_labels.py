"""The owner's labels: listed with the verdict given, stored atomically, and learned from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from camera.box import Box
from classifier import Classifier, Verdict, crop_square, load_classifier, load_image
from classifier.config import ModelsConfig
from classifier.package import load_package_model
from edge.assets import AssetStore
from edge.cli import main
from edge.config import ArchiveConfig
from edge.event import Event
from edge.events.archive import Archive
from edge.events.log import EventLog
from edge.train.errors import LabelError
from edge.train.labels import LABELS_FILE, LabelStore, archived_crops, labelled_photos
from edge.train.retrain import RetrainPlan, retrain
from edge.train.trainer import TrainSettings

if TYPE_CHECKING:
    from tests.retrain.conftest import PhotoSet

ARCHIVE_CFG = ArchiveConfig(min_free_mb=0)  # type: ignore[call-arg]


def archive_events(state: Path, data: Path, files: list[str], verdict: str) -> list[str]:
    """Archive a crop of each photo as the appliance would, and log its event; their names."""
    archive = Archive(state / "archive", ARCHIVE_CFG)
    with EventLog(state / "events.sqlite3") as log:
        for n, name in enumerate(files):
            bgr = load_image(data / name)[..., ::-1].copy()
            crop = crop_square(bgr, [Box(0.1, 0.1, 0.8, 0.8)], size=224)
            when = 1_780_000_000.0 + 60 * n
            saved = archive.save("coop", when, bgr, {"mobilenet_v2_imagenet": crop})
            log.append(Event("coop", when, when + 1, verdict, "tabby", 0.9,
                             snapshot=saved.snapshot, crops=saved.crops))
    return [c.event for c in archived_crops(archive, LabelStore(state / LABELS_FILE),
                                            state / "events.sqlite3")]


def test_label_store_round_trip_and_errors(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / LABELS_FILE, clock=lambda: 1000.0)
    store.set(["2026-05-01/211403.250117_coop"], "chicken", "plymouth_rock")
    store.set(["2026-05-01/211500.000000_coop"], "predator")
    got = store.read()
    assert got["2026-05-01/211403.250117_coop"].subclass == "plymouth_rock"
    assert store.remove(["2026-05-01/211500.000000_coop", "nope"]) == 1
    assert list(store.read()) == ["2026-05-01/211403.250117_coop"]
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(LabelError, match="'hen' is not one of chicken, predator, background"):
        store.set(["x"], "hen")
    with pytest.raises(LabelError, match="one line of printable text"):
        store.set(["x"], "chicken", "silkie\nbantam")
    (tmp_path / LABELS_FILE).write_text("event,label,subclass,labelled_at\nx,goose,,1\n")
    with pytest.raises(LabelError, match=r"labels\.csv:2: label 'goose'"):
        store.read()
    (tmp_path / LABELS_FILE).write_bytes(b"event,label\n\xff\xfe")
    with pytest.raises(LabelError, match=r"labels\.csv: not UTF-8 text \(byte 0xff at offset 12\)"):
        store.set(["x"], "chicken")  # and the file is left as it was, for its owner to look at
    assert (tmp_path / LABELS_FILE).read_bytes() == b"event,label\n\xff\xfe"


def test_label_command_lists_sets_and_clears(
    state_dir: Path, photo_set: PhotoSet, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [r["file"] for r in photo_set.rows()[:2]]
    events = archive_events(state_dir, photo_set.data, files, "predator")
    assert main(["label", "set", events[0].split("/")[1], "--as", "chicken",
                 "--subclass", "buff_orpington"]) == 0
    capsys.readouterr()
    assert main(["label", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["event"], c["verdict"], c["owner_label"]) for c in listed] == [
        (events[0], "predator", "chicken"), (events[1], "predator", None)]
    assert main(["label", "list", "--unlabelled"]) == 0
    assert events[0] not in capsys.readouterr().out
    assert main(["label", "clear", events[0]]) == 0
    assert LabelStore(state_dir / LABELS_FILE).read() == {}
    assert main(["label", "--state-dir", str(state_dir / "mistyped"), "list"]) == 1
    assert "mistyped: no state folder here" in capsys.readouterr().err
    assert main(["label", "set", "no-such-event", "--as", "chicken"]) == 1
    assert "is not an archived event" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["label", "set", events[0], "--as", "hen"])
    assert exit_info.value.code == 2


def _verdicts(package: Path, store: AssetStore, crops: list[Path]) -> list[Verdict]:
    """The verdicts once the package is promoted: blended with the zero-shot models."""
    from edge.events.archive import load_exact

    head = load_package_model(package, store, threads=1)
    zero_shot = load_classifier(ModelsConfig(), store)  # type: ignore[call-arg]
    with zero_shot, Classifier([*zero_shot.models, head]) as classifier:
        return [classifier.classify(load_exact(c)).verdict for c in crops]


def test_retraining_on_corrected_labels_changes_the_verdict_on_those_crops(
    state_dir: Path, tmp_path: Path, asset_store: AssetStore, photo_set: PhotoSet
) -> None:
    # The owner's barn cats: archived crops, which the photo set below has never seen.
    cats = photo_set.files_of("domestic_cat")
    events = archive_events(state_dir, photo_set.data, cats, "predator")
    base = photo_set.photos(photo_set.rows(exclude_subclass="domestic_cat"))
    labels = LabelStore(state_dir / LABELS_FILE)
    archive = Archive(state_dir / "archive", ARCHIVE_CFG)

    def train(version: str) -> tuple[Path, list[Path]]:
        crops = archived_crops(archive, labels, state_dir / "events.sqlite3")
        plan = RetrainPlan("coop", version, tmp_path / "packages", TrainSettings(folds=0),
                           ["flip"])
        with load_classifier(ModelsConfig(), asset_store) as current:  # type: ignore[call-arg]
            outcome = retrain(base + labelled_photos(crops), asset_store, plan, current)
        return outcome.package, [c.crop for c in crops]

    labels.set(events, "predator")
    first, crops = train("1")
    assert _verdicts(first, asset_store, crops) == [Verdict.PREDATOR] * len(cats)
    labels.set(events, "background", "barn_cat")  # "those are ours, leave them be"
    second, _ = train("2")
    assert _verdicts(second, asset_store, crops) == [Verdict.BACKGROUND] * len(cats)
