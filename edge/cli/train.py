"""``tensorchicken train``: a head on this coop's own photos, measured, packaged, registered.

    tensorchicken train --manifest photos.csv --root photos/      # file,label[,subclass] CSV
    tensorchicken train --from-archive                             # crops labelled with `label`
    tensorchicken train --manifest photos.csv --root photos/ --from-archive --fine

Prints the held-out figures (cross-validation over photo groups: a photo and its variations are
never on both sides) beside the current classifier's on the same photos, then writes the package
to ``<data_dir>/packages/<name>-<version>/`` and registers it as a shadow model; promote it with
``tensorchicken models promote NAME`` when it wins. A shadow never decides, so a package is
registered even when its held-out figures miss a bar (predator recall, chickens or empty scenes
called predators); the bars it misses are printed, as a reason not to promote it yet.

Clips with no animal in them (``--background-video FILE``; by default the manifest's ``video``
rows whose subclass says they show people or nothing) give the motion crops the appliance
would classify on them, as empty scenes (``edge/train/clips.py``).

By default the head is *blended* with the current zero-shot models (``--blend 0.5``,
``classifier/blend.py``): its operating point and figures are those of the blend, the head
alone is printed beside them, and once promoted it joins the critical path next to the primary
instead of replacing it. ``--blend 0`` trains a head that decides alone.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from pathlib import Path
from typing import Any

from classifier import Classifier, ClassifierError, load_classifier
from classifier.blend import DEFAULT_WEIGHT
from classifier.config import MAX_THREADS
from classifier.head import HeadSettings
from classifier.package import NAME_PATTERN, packages_dir
from classifier.registry import ModelRegistry
from edge.assets import AssetStore
from edge.cli import CliError
from edge.cli.classify import add_model_args, open_classifier
from edge.cli.common import add_mirror_arg, config_from, print_json, store_from
from edge.cli.eval import manifest_root, print_report, read_manifest
from edge.cli.label import owner_crops, state_dir_of
from edge.learn.heads import zero_shot_config
from edge.paths import default_data_dir
from edge.train.augment import AUGMENTATIONS, DEFAULT_AUGMENTATIONS
from edge.train.clips import ClipFile, make_clip
from edge.train.confusion import PERSON
from edge.train.dataset import Photo, make_photo
from edge.train.errors import TrainError
from edge.train.labels import labelled_photos
from edge.train.report import CURRENT
from edge.train.retrain import Outcome, RetrainPlan, retrain
from edge.train.trainer import TrainSettings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("train", help="train a head on your own labelled photos or crops")
    p.add_argument("--manifest", type=Path,
                   help="CSV with file,label columns (optional subclass, camera)")
    p.add_argument("--root", type=Path, help="folder the manifest's file paths start from "
                   "(default: the manifest's own folder)")
    p.add_argument("--from-archive", action="store_true",
                   help="also learn from archived crops you labelled (tensorchicken label)")
    p.add_argument("--name", default="coop", help="package name (default: coop)")
    p.add_argument("--version", help="package version (default: the UTC time it was "
                   "trained, as YYYYMMDDTHHMMSSZ)")
    p.add_argument("--fine", action="store_true",
                   help="finer classes (breed, species) where a subclass has enough photos")
    p.add_argument("--min-per-class", type=int, default=4, metavar="N",
                   help="photos a subclass needs to be its own class with --fine (default 4)")
    p.add_argument("--l2", type=float, default=HeadSettings().l2,
                   help=f"L2 penalty of the head (default {HeadSettings().l2})")
    p.add_argument("--folds", type=int, default=5,
                   help="cross-validation folds for the held-out figures; 0 skips them")
    p.add_argument("--augment", nargs="*", choices=list(AUGMENTATIONS)[1:], metavar="NAME",
                   help=f"augmentations (default: {', '.join(DEFAULT_AUGMENTATIONS[1:])})")
    p.add_argument("--target-recall", type=float, default=0.97,
                   help="held-out predator recall a head must reach to be worth promoting "
                   "(default 0.97)")
    p.add_argument("--max-chicken-fa", type=float, default=0.01,
                   help="share of chickens it may call predators (default 0.01)")
    p.add_argument("--max-background-fa", type=float, default=0.05,
                   help="share of empty scenes it may call predators (default 0.05)")
    p.add_argument("--blend", type=float, default=DEFAULT_WEIGHT, metavar="W",
                   help="the head's weight when blended with the current zero-shot models' "
                   f"answer (default {DEFAULT_WEIGHT}; 0: the head decides alone)")
    p.add_argument("--unseen-species", action="store_true",
                   help="also hold out each predator species whole, in turn: recall on a "
                   "predator the head never saw (one more fit per species)")
    p.add_argument("--background-video", action="append", default=[], type=Path,
                   metavar="FILE", help="a clip with no animal in it (repeatable); default: the "
                   "manifest's video rows of people or of nothing")
    p.add_argument("--no-background-video", action="store_true",
                   help="no clips, not even the manifest's")
    p.add_argument("--threads", type=int, default=2, help="extractor threads (default 2)")
    p.add_argument("--out", type=Path, help="packages folder (default <data_dir>/packages)")
    p.add_argument("--no-register", action="store_true", help="write the package only")
    add_model_args(p)
    add_mirror_arg(p)
    p.set_defaults(func=run)


def trainable(label: str, subclass: str) -> tuple[str, str]:
    """A manifest row's (label, subclass) as the head learns it: a person is background."""
    return ("background", f"person:{subclass}") if label == PERSON else (label, subclass)


def _photos(args: argparse.Namespace) -> list[Photo]:
    if not args.manifest and not args.from_archive:
        raise CliError("give --manifest CSV [--root DIR], or --from-archive, or both", code=2)
    if args.root and not args.manifest:
        raise CliError("--root goes with --manifest", code=2)
    photos: list[Photo] = []
    if args.manifest:
        root = manifest_root(args.manifest, args.root)
        # A person is not a predator and not a chicken: the head learns people as background
        # (their subclass keeps them apart in the report).
        photos += [make_photo(root / r.file, *trainable(r.label, r.subclass), r.file,
                              camera=r.camera)
                   for r in read_manifest(args.manifest)]
    if args.from_archive:
        crops, _ = owner_crops(config_from(args))
        photos += labelled_photos(crops)
    return photos


def _settings(args: argparse.Namespace) -> TrainSettings:
    cfg = config_from(args).models
    for name, value, low, high in (("--l2", args.l2, 0.0, 100.0),
                                   ("--target-recall", args.target_recall, 0.0, 1.0),
                                   ("--max-chicken-fa", args.max_chicken_fa, 0.0, 1.0),
                                   ("--max-background-fa", args.max_background_fa, 0.0, 1.0),
                                   ("--blend", args.blend, 0.0, 1.0)):
        if not low <= value <= high:
            raise CliError(f"{name} must be between {low} and {high}, got {value}", code=2)
    if args.folds == 1 or args.folds < 0 or args.min_per_class < 1:
        raise CliError("--folds must be 0 or at least 2; --min-per-class at least 1", code=2)
    for option, value in (("--name", args.name), ("--version", args.version)):
        if value is not None and not re.fullmatch(NAME_PATTERN, value):
            raise CliError(f"{option} {value!r}: letters, digits, '.', '_' and '-' only (it "
                           "names the package's folder)", code=2)
    if not 1 <= args.threads <= MAX_THREADS:
        raise CliError(f"--threads must be between 1 and {MAX_THREADS}, got {args.threads}",
                       code=2)
    return TrainSettings(
        fine=args.fine, min_per_class=args.min_per_class, head=HeadSettings(l2=args.l2),
        folds=args.folds, target_recall=args.target_recall, max_chicken_fa=args.max_chicken_fa,
        max_background_fa=args.max_background_fa, blend=args.blend or None,
        unseen_species=args.unseen_species,
        predator_threshold=cfg.predator_threshold, chicken_threshold=cfg.chicken_threshold,
    )


def _plan(args: argparse.Namespace, settings: TrainSettings) -> RetrainPlan:
    config = config_from(args)
    data_dir = Path(config.paths.data_dir) if config.paths.data_dir else default_data_dir()
    return RetrainPlan(
        name=args.name, version=args.version or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        packages=args.out or packages_dir(data_dir), settings=settings,
        augmentations=args.augment, threads=args.threads, clips=_clips(args),
    )


# A manifest's ``video`` rows say nothing of what they show but their subclass: those naming
# people or nothing are clips with no animal; any other (a mouse in an arena) is left out.
NO_ANIMAL_WORDS = ("people", "person", "empty", "nothing")


def _clips(args: argparse.Namespace) -> tuple[ClipFile, ...]:
    if args.no_background_video:
        return ()
    try:
        if args.background_video:
            return tuple(make_clip(p) for p in args.background_video)
        if not args.manifest:
            return ()  # _photos says what is missing
        root = manifest_root(args.manifest, args.root)
        return tuple(make_clip(root / r["file"], r["file"], r.get("license", ""))
                     for r in _video_rows(args.manifest)
                     if any(w in r.get("subclass", "") for w in NO_ANIMAL_WORDS))
    except (TrainError, OSError) as exc:
        raise CliError(str(exc), code=2) from None


def _video_rows(manifest: Path) -> list[dict[str, str]]:
    # read_manifest skips video rows; the file was read (and checked) by it already.
    with manifest.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if (r.get("label") or "").strip() == "video"]


def registry_of(args: argparse.Namespace) -> ModelRegistry:
    """The model registry of the configured state folder."""
    config = config_from(args)
    return ModelRegistry(state_dir_of(config), config.models)


def _current(args: argparse.Namespace, store: AssetStore) -> Classifier:
    """What decides today: the models named by --model, else the registry's effective ones
    (the configuration with promotions and rollbacks applied), without a head joined to them:
    a new head is compared with, and blended with, the zero-shot models alone, as it will be
    once it replaces that head."""
    if args.model:
        return open_classifier(args)
    return load_classifier(zero_shot_config(registry_of(args).effective()), store)


def run(args: argparse.Namespace) -> int:
    """Train, print the report, write and register the package."""
    settings = _settings(args)
    plan = _plan(args, settings)
    store = store_from(args, config_from(args))
    try:
        photos = _photos(args)
        needed = settings.folds or settings.blend is not None
        current = _current(args, store) if needed else None
        try:
            outcome = retrain(photos, store, plan, current)
        finally:
            if current is not None:
                current.close()
        missed = missed_bars(outcome.report, settings)
        register_it = not args.no_register
        if register_it:
            registry_of(args).register(outcome.info.model_name, "shadow", package=outcome.package)
        _show(args, outcome, registered=register_it, missed=missed)
    except ClassifierError as exc:
        raise CliError(str(exc)) from None
    return 0


def missed_bars(report: dict[str, Any] | None, s: TrainSettings) -> list[str]:
    """The bars the held-out figures miss (none without figures: nothing to judge by)."""
    if report is None:
        return []
    missed = []
    if report["predator_recall"] < s.target_recall:
        missed.append(f"predator recall {report['predator_recall']:.3f} < {s.target_recall}")
    if report["chicken_false_alarm"] > s.max_chicken_fa:
        # With the count: 1 of 98 hens prints as 0.010 and would look within a 0.01 bar.
        hens = report["confusion"]["chicken"]
        missed.append(f"chickens called predator {hens['predator']} of {sum(hens.values())} "
                      f"({report['chicken_false_alarm']:.4f}) > {s.max_chicken_fa}")
    empty = [("empty scenes", report["background_false_alarm"])] + [
        (f"{name} examples", clip["called_predator"][next(iter(clip["called_predator"]))])
        for name, clip in report.get("empty_clips", {}).items()]
    missed += [f"{what} called predator {rate:.3f} > {s.max_background_fa}"
               for what, rate in empty if rate > s.max_background_fa]
    return missed


def _show(args: argparse.Namespace, outcome: Outcome, registered: bool,
          missed: list[str]) -> None:
    summary = {
        "package": str(outcome.package), "model": outcome.info.model_name,
        "photos": len(outcome.info.training["photos"]), "labels": outcome.info.labels,
        "seconds": round(outcome.seconds, 1), "peak_memory_mb": round(outcome.peak_mb, 1),
        "predator_shift": outcome.info.training["operating_point"]["predator_shift"],
        "registered": "shadow" if registered else None, "missed_bars": missed,
    }
    if args.json:
        print_json({**summary, "report": outcome.report})
        return
    if outcome.report:
        print("held-out figures (each photo scored by a head trained without it):")
        print_report(outcome.report)
        for name, clip in outcome.report.get("empty_clips", {}).items():
            rates = ", ".join(f"{m} {r:.3f}" for m, r in clip["called_predator"].items())
            print(f"clip {name} ({clip['examples']} crops, no animal), called predator: {rates}")
        unseen = outcome.report.get("unseen_species")
        if unseen and unseen["photos"]:
            lost = ", ".join(f"{k} {v}" for k, v in sorted(unseen["missed"].items()))
            current = unseen.get(CURRENT)
            print(f"predators of a species held out whole ({unseen['photos']} photos, "
                  f"{unseen['species']} species): recall {unseen['recall']:.3f}, head alone "
                  f"{unseen['head_alone']:.3f}"
                  + (f", {CURRENT} {current:.3f}" if current is not None else "")
                  + (f"; missed {lost}" if lost else ""))
    print(f"package {summary['model']} written to {summary['package']}")
    print(f"{summary['photos']} photos, classes {', '.join(summary['labels'])}; "
          f"{summary['seconds']} s, peak memory {summary['peak_memory_mb']} MB")
    for bar in missed:
        print(f"missed: {bar}")
    if registered and missed:
        print(f"registered {summary['model']} as a shadow model, to watch beside the primary; "
              "it misses the bars above: do not promote it until it wins")
    elif registered:
        print(f"registered {summary['model']} as a shadow model; when it wins: "
              f"tensorchicken models promote {summary['model']}")
