"""``tensorchicken classify IMAGE...``: the verdict for each picture, with every model's answer."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifier import Classification, Classifier, ClassifierError, load_classifier, load_image
from classifier.config import ModelsConfig, ModelUse
from classifier.errors import UnknownModelError
from classifier.registry import ModelRegistry
from classifier.still import classify_still
from edge.cli import CliError
from edge.cli.common import add_config_arg, add_json_arg, config_from, print_json, store_from
from edge.cli.motion import camera_named
from edge.doctor.checks import state_dir_of

log = logging.getLogger(__name__)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """``-c CONFIG``, ``--model NAME`` (repeatable) and ``--json``."""
    add_config_arg(parser)
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME",
        help="model from the manifest (repeatable; the first is primary, the others critical); "
        "default: the configured models",
    )
    add_json_arg(parser)


def models_config(args: argparse.Namespace) -> ModelsConfig:
    """The configured models, or those named by ``--model`` with the configured settings."""
    cfg = config_from(args).models
    if not args.model:
        return cfg
    threads = cfg.use[0].threads
    use = [
        ModelUse(name=name, role="primary" if i == 0 else "critical", threads=threads)
        for i, name in enumerate(args.model)
    ]
    try:
        return ModelsConfig.model_validate({**cfg.model_dump(), "use": use})
    except ValueError as exc:
        raise CliError(f"--model: {exc}", code=2) from None


def open_classifier(args: argparse.Namespace, cameras: Sequence[str] = (),
                    asked: bool = False) -> Classifier:
    """The classifier for ``-c`` and ``--model`` (and, for each of ``cameras``, that camera's
    own re-fitted default head, promoted through the model registry), or a one-line error.
    A registry that cannot be read is an error when the owner ``asked`` for a camera, else a
    warning (the shipped head then judges every camera's crops)."""
    cfg = models_config(args)
    if cameras:
        cfg = _with_camera_heads(args, cfg, cameras, asked)
    try:
        return load_classifier(cfg, store_from(args, config_from(args)))
    except ClassifierError as exc:
        raise CliError(str(exc), code=2 if isinstance(exc, UnknownModelError) else 1) from None


def _with_camera_heads(args: argparse.Namespace, cfg: ModelsConfig, cameras: Sequence[str],
                       asked: bool) -> ModelsConfig:
    """``cfg`` with the default head each of ``cameras`` decides with now (its re-fit, if one
    was promoted: the model registry's), so its crops are judged as the appliance judges them."""
    config = config_from(args)
    for camera in cameras:
        camera_named(config, camera)  # a CliError naming the cameras there are
    try:
        heads = ModelRegistry(state_dir_of(config), cfg).effective().camera_heads
    except ClassifierError as exc:
        if asked:
            raise CliError(str(exc)) from None
        log.warning("the cameras' own re-fitted default heads are not used: %s", exc)
        return cfg
    return cfg.model_copy(update={"camera_heads": {c: heads[c] for c in cameras if c in heads}})


def timed_classify(classifier: Classifier, path: Path, camera: str | None = None
                   ) -> tuple[Classification, float]:
    """Read ``path``, classify it as a whole picture (each of its squares as a crop of
    ``camera``: :mod:`classifier.still`); the result and the milliseconds of classify alone."""
    rgb = load_image(path)
    started = time.perf_counter()
    result = classify_still(lambda crop: classifier.classify(crop, camera),
                            classifier.thresholds, rgb)
    return result, (time.perf_counter() - started) * 1000.0


def as_dict(result: Classification) -> dict[str, Any]:
    """A JSON-ready view of one classification."""
    return {
        "verdict": result.verdict.value, "score": result.score, "label": result.label,
        "predator_score": result.predator_score, "chicken_score": result.chicken_score,
        "decided_by": result.decided_by,
        "models": {
            name: {
                "verdict": s.verdict.value, "score": s.score, "predator_score": s.predator_score,
                "chicken_score": s.chicken_score, "top": [list(t) for t in s.top],
                "invoke_ms": s.invoke_ms, "total_ms": s.total_ms,
            }
            for name, s in result.models.items()
        },
    }


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser("classify", help="classify pictures: verdict, score, top labels per model")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="picture files")
    add_model_args(p)
    p.add_argument("--camera", metavar="NAME",
                   help="judge the pictures as this camera's crops: with its own re-fitted "
                   "default head when one was promoted (tensorchicken learn)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """One line (or one JSON object) per picture; a picture that cannot be classified is
    reported (on stderr, and as ``error`` in JSON) and the others still are. Exit 1 if any
    could not be."""
    results: list[dict[str, Any]] = []
    with open_classifier(args, [args.camera] if args.camera else [], asked=True) as classifier:
        for path in args.images:
            try:
                result, ms = timed_classify(classifier, path, args.camera)
            except ClassifierError as exc:
                sys.stderr.write(f"tensorchicken classify: {exc}\n")
                results.append({"file": str(path), "error": str(exc)})
                continue
            results.append({"file": str(path), **as_dict(result), "ms": round(ms, 2)})
    failed = 1 if any("error" in r for r in results) else 0
    if args.json:
        print_json(results[0] if len(results) == 1 else results)
        return failed
    for r in results:
        if "error" in r:
            continue
        print(f"{r['file']}: {r['verdict']} {r['score']:.2f} ({r['label']}, by {r['decided_by']},"
              f" {r['ms']:.1f} ms)")
        for name, m in r["models"].items():
            top = ", ".join(f"{label} {p:.2f}" for label, p in m["top"])
            print(f"    {name}: {m['verdict']} {m['score']:.2f}  [{top}]"
                  f"  invoke {m['invoke_ms']:.1f} ms")
    return failed
