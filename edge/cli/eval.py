"""``tensorchicken eval --manifest CSV [--root DIR]``: how well the classifier does on photos.

Reads the CSV format of ``/work/shared/data/MANIFEST.csv`` (columns ``file,label``, optionally
``subclass``, ``scene``, ``camera``; rows labelled ``video`` are skipped; file paths relative to
``--root``, by default the manifest's own folder) and reports the confusion matrix of the
combination and of each model alone, predator recall, false alarms and per-image latency. With
``--clips``, runs videos and frame folders through the appliance's own path instead and reports
per visit (:mod:`edge.cli.eval_clips`).

Rows may also be labelled ``person``: the appliance has no person verdict, so a person is
right when not called a predator, and "people called predator" is a reported rate. The optional
``scene`` column (``photo``, ``fixed_day``, ``fixed_night_ir``, ``fixed_night_colour`` in
``shared/data/train/MANIFEST.csv``) gives the same figures per scene kind, among them "hens
recognised as chicken", the rate the sprinkler's chicken veto depends on; ``camera`` is kept for
grouping (``train`` never tests on a camera it trained on).
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier import Classification, ClassifierError
from classifier.feature_head import DEFAULT_HEAD_DIR, TRAINING_FILES, FeatureHead, shipped_head
from edge.cli import CliError
from edge.cli.classify import add_model_args, open_classifier, timed_classify
from edge.cli.common import config_from, print_json
from edge.cli.eval_clips import add_clip_args, run_clips
from edge.train.confusion import (
    LABELS,
    SKIPPED,
    TRUTHS,
    is_miss,
    per_scene,
    rates,
    reaching_veto,
)
from groundwork.digest import sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled picture."""

    file: str
    label: str
    subclass: str
    scene: str = ""
    camera: str = ""


def read_manifest(path: Path) -> list[Row]:
    """The labelled pictures of a manifest CSV; CliError naming the line if one is malformed."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"file", "label"} - set(reader.fieldnames or ())
            if missing:
                raise CliError(f"{path}: missing column(s) {', '.join(sorted(missing))}", code=2)
            rows = [_row(path, n, r) for n, r in enumerate(reader, start=2)]
    except OSError as exc:
        raise CliError(f"{path}: cannot read it: {exc.strerror or exc}", code=2) from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                       f"{exc.start}); save the CSV as UTF-8", code=2) from None
    return [r for r in rows if r is not None]


def manifest_root(manifest: Path, root: Path | None) -> Path:
    """The folder a manifest's file paths start from: ``root`` when given, else its own."""
    return root if root is not None else manifest.parent


def _row(path: Path, line: int, raw: dict[str, str]) -> Row | None:
    label = (raw.get("label") or "").strip()
    if label == SKIPPED:
        return None
    if label not in TRUTHS:
        raise CliError(f"{path}:{line}: label {label!r} is not one of {', '.join(TRUTHS)}", code=2)
    return Row(raw["file"].strip(), label, (raw.get("subclass") or "").strip(),
               (raw.get("scene") or "").strip(), (raw.get("camera") or "").strip())


def evaluate(args: argparse.Namespace, rows: list[Row]) -> dict[str, Any]:
    """Classify every row; the whole report as one dict. A picture that cannot be read is left
    out of the figures and named under ``unreadable``; when none can be, CliError."""
    results: list[tuple[Row, Classification, float]] = []
    unreadable: list[dict[str, str]] = []
    with open_classifier(args) as classifier:
        for row in rows:
            try:
                result, ms = timed_classify(classifier, args.root / row.file)
            except ClassifierError as exc:
                unreadable.append({"file": row.file, "error": str(exc)})
                continue
            results.append((row, result, ms))
        names = classifier.model_names
        heads = [h.name for h in (classifier.head,
                                  classifier.second_look and classifier.second_look.head) if h]
        learnt = learnt_by_shipped_head(classifier.head, args.root, [r for r, _, _ in results])
    if unreadable and not results:
        raise CliError(f"none of the {len(unreadable)} pictures could be read (is --root "
                       f"{args.root} the folder their paths start from?); the first: "
                       f"{unreadable[0]['error']}", code=2)
    latencies = np.array([ms for _, _, ms in results]) if results else np.zeros(1)
    misses = [
        {"file": row.file, "label": row.label, "subclass": row.subclass,
         "verdict": res.verdict.value, "score": res.score, "top": res.label}
        for row, res, _ in results if is_miss(row.label, res.verdict.value)
    ]
    per_model = {
        name: rates([(row.label, res.models[name].verdict.value)
                     for row, res, _ in results if name in res.models])
        for name in names
    }
    # Hens the chicken veto would keep the sprinkler off for, not only those called chicken.
    veto = config_from(args).decision.chicken_veto
    chicken = [res.chicken_score for _, res, _ in results]
    return {
        "n": len(results),
        "models_used": list(names),
        "heads_used": heads,
        # Pictures the shipped default head learnt from: their figures are not held out.
        "trained_on": learnt,
        **rates([(row.label, res.verdict.value) for row, res, _ in results]),
        **reaching_veto([(row.label, res.chicken_score) for row, res, _ in results], veto),
        "per_scene": per_scene([(row.scene, row.label, res.verdict.value)
                                for row, res, _ in results], chicken, veto),
        "misses": misses,
        "unreadable": unreadable,
        "misses_by_subclass": dict(Counter(f"{m['label']}/{m['subclass']}" for m in misses)),
        "latency_ms": {
            "median": round(float(np.median(latencies)), 2),
            "p99": round(float(np.percentile(latencies, 99)), 2),
        },
        "per_model": per_model,
    }


def learnt_by_shipped_head(head: FeatureHead | None, root: Path, rows: list[Row]) -> list[str]:
    """Which of ``rows`` the shipped default head (and its second look, built from the same
    files) was trained on, by their bytes' sha256 (``training_files.txt``); none when ``head``
    is another head or none."""
    if head is None or head is not shipped_head():
        return []
    listed = (DEFAULT_HEAD_DIR / TRAINING_FILES).read_text(encoding="utf-8").splitlines()
    trained = {line.split(maxsplit=1)[0] for line in listed if line.strip()}
    return [r.file for r in rows if sha256_of(root / r.file) in trained]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("eval", help="evaluate the classifier on a labelled manifest of pictures, "
                       "or the whole decision on clips (--clips)")
    p.add_argument("--manifest", type=Path,
                   help="CSV with file,label (optional subclass, scene, camera); labels chicken, "
                   "predator, background, person (video rows are skipped)")
    p.add_argument("--root", type=Path, help="folder the CSV's file paths start from "
                   "(default: the CSV's own folder)")
    add_model_args(p)
    add_clip_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report (or one JSON object)."""
    if args.clips:
        return run_clips(args)
    if args.manifest is None:
        raise CliError("eval needs --manifest CSV (or --clips PATH...)", code=2)
    rows = read_manifest(args.manifest)
    if not rows:
        raise CliError(f"{args.manifest}: no pictures to judge (only a header, or video rows: "
                       "give those to --clips)", code=2)
    args.root = manifest_root(args.manifest, args.root)
    report = evaluate(args, rows)
    for bad in report["unreadable"]:  # left out of the figures: said, not hidden
        log.warning("left out, cannot be read: %s", bad["error"])
    if args.json:
        print_json(report)
    else:
        print_report(report)
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def headline(r: dict[str, Any]) -> str:
    """The headline rates of one :func:`rates` result, those that apply, as one line."""
    parts = [("predator recall", "predator_recall"),
             ("chickens called predator", "chicken_false_alarm"),
             ("hens recognised as chicken", "chicken_recognised"),
             ("hens reaching the chicken veto", "chicken_reaching_veto"),
             ("empty scenes called predator", "background_false_alarm"),
             ("people called predator", "person_false_alarm")]
    return ", ".join(f"{text} {_fmt(r[key])}" for text, key in parts if r.get(key) is not None)


def print_report(report: dict[str, Any]) -> None:
    """The report for a human."""
    left_out = len(report.get("unreadable", ()))
    unread = f" ({left_out} more could not be read: left out)" if left_out else ""
    heads = f", heads: {', '.join(report['heads_used'])}" if report.get("heads_used") else ""
    print(f"{report['n']} pictures{unread}, models: {', '.join(report['models_used'])}{heads}")
    if report.get("trained_on"):
        print(f"{len(report['trained_on'])} of them trained the shipped default head: their "
              "figures are not held out (README, 'The default head')")
    print(f"{'truth / verdict':>16} " + " ".join(f"{v:>10}" for v in LABELS))
    for truth, row in report["confusion"].items():
        print(f"{truth:>16} " + " ".join(f"{row[v]:>10}" for v in LABELS))
    for name, r in [("combined", report), *report["per_model"].items()]:
        print(f"{name:>26}: {headline(r)}")
    for scene, r in report.get("per_scene", {}).items():
        print(f"{'scene ' + scene:>26}: {r['n']} pictures, {headline(r)}")
    lat = report["latency_ms"]
    print(f"latency per picture (classify only): median {lat['median']} ms, p99 {lat['p99']} ms")
    if report["misses_by_subclass"]:
        print("misses by subclass: " + ", ".join(
            f"{k} {v}" for k, v in sorted(report["misses_by_subclass"].items())))
    for m in report["misses"]:
        print(f"  miss {m['file']}: {m['label']} called {m['verdict']} {m['score']:.2f}"
              f" ({m['top']})")
