"""``tensorchicken models``: which models run in which role, changes without a restart, and
models side by side on the same inputs.

``list``       roles, versions, load and inference times, skips, agreement with the canary
``register``   score a model (or a local model package) as a shadow or as the canary
``promote``    let a model decide: the primary (the previous one stays loaded, as a shadow), or
               for a blending head, a critical model blended with the zero-shot models' answers
``rollback``   undo the last promotion
``reset``      forget the run-time changes: the configuration alone decides
``compare``    every model on the archived crops (``--since``) or a labelled set (``--manifest``)

Changes go to ``<state_dir>/models.yaml``; a running appliance picks them up within a second
(it watches the file), loads and warms the new model up, and switches between two frames. With
nothing running the change is just recorded, after loading the model once to check it.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from classifier import ClassifierError, Verdict, load_image
from classifier.config import ModelsConfig
from classifier.ensemble import (
    Classifier,
    by_priority,
    combine,
    load_any,
    thresholds_of,
    verdict_for,
)
from classifier.feature_head import heads_in_use
from classifier.keeper import read_status
from classifier.package import read_package
from classifier.registry import ModelRegistry
from classifier.rendezvous import check_model
from classifier.spec import load_specs
from edge.cli import CliError
from edge.cli.common import (
    add_config_arg,
    add_json_arg,
    add_mirror_arg,
    config_from,
    print_json,
    store_from,
)
from edge.cli.eval import manifest_root, read_manifest
from edge.config import Config
from edge.doctor.checks import state_dir_of
from edge.events.archive import Archive, load_exact
from edge.learn.describe import where_it_decides
from edge.train.confusion import is_miss, rates
from groundwork.digest import sha256_of
from groundwork.durable import write_durably

log = logging.getLogger(__name__)

RUNNING_WITHIN_S = 30.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its actions."""
    p = sub.add_parser("models", help="model roles, promote/rollback without a restart, compare")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    actions.required = True
    for name, func, text in (
        ("list", run_list, "roles, versions, times and agreement with the canary"),
        ("promote", run_promote, "let NAME decide (a blending head joins the primary)"),
        ("rollback", run_rollback, "undo the last promotion"),
        ("register", run_register, "score NAME as a shadow or the canary"),
        ("reset", run_reset, "forget run-time changes: the configuration alone decides"),
        ("compare", run_compare, "models side by side on archived crops or labelled photos"),
    ):
        a = actions.add_parser(name, help=text)
        add_config_arg(a)
        add_mirror_arg(a)
        add_json_arg(a)
        a.set_defaults(func=func)
        if name in ("promote", "register"):
            a.add_argument("name", metavar="NAME", help="model name (manifest or package)")
        if name == "register":
            a.add_argument("--role", choices=("shadow", "canary"), default="shadow")
            a.add_argument("--package", type=Path, metavar="DIR", help="a local model package")
        if name == "compare":
            _compare_args(a)


def _compare_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--since", type=_when, metavar="TIME",
                   help="archived crops from this time on: Unix seconds, or 2h / 3d ago")
    a.add_argument("--manifest", type=Path, metavar="CSV", help="labelled photos instead")
    a.add_argument("--root", type=Path, metavar="DIR", help="folder the manifest's files are in")
    a.add_argument("--limit", type=int, default=0, metavar="N", help="at most N pictures")


def _when(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1:] in units:
            return time.time() - float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (Unix seconds or 2h/3d)") from None


def _registry(args: argparse.Namespace) -> tuple[Config, ModelRegistry]:
    config = config_from(args)
    return config, ModelRegistry(state_dir_of(config), config.models)


def _change(args: argparse.Namespace, what: str,
            apply: Callable[[ModelRegistry], str | None]) -> int:
    """Apply a registry change (``apply`` may name what it changed, after ``what``); load and
    warm up the primary (and NAME) as they would now run; on any failure put ``models.yaml``
    back as it was."""
    config, registry = _registry(args)
    # As bytes: a damaged file (not even UTF-8) is put back as it was, for reset to replace.
    before = registry.path.read_bytes() if registry.path.exists() else None
    try:
        changed = apply(registry)
        target = registry.effective()
        store, specs = store_from(args, config), load_specs()
        for use in target.use:
            if use.role == "primary" or use.name == getattr(args, "name", None):
                check_model(load_any(use, store, specs))
    except (ClassifierError, OSError) as exc:
        _put_back(registry.path, before)
        raise CliError(f"nothing changed: {exc}") from None
    running = _running(state_dir_of(config))
    where = "the running appliance switches within a second" if running else "recorded"
    print(f"{what}{' ' + changed if changed else ''}: primary {target.primary.name} ({where})")
    return 0


def _put_back(path: Path, before: bytes | None) -> None:
    """``path`` as it was (absent: ``None``); untouched when the change never reached it (a
    write refused for want of room leaves the old file, and writing it again would fail too)."""
    now = path.read_bytes() if path.exists() else None
    if now == before:
        return
    try:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            write_durably(path, before, folder_owner=True)
    except OSError as exc:
        raise CliError(f"the change failed, and {path} could not be put back ({exc}): run "
                       "'tensorchicken models reset' once the disk has room") from None


def run_promote(args: argparse.Namespace) -> int:
    """``models promote NAME``."""
    return _change(args, f"promoted {args.name}", lambda r: r.promote(args.name))


def run_rollback(args: argparse.Namespace) -> int:
    """``models rollback``."""
    return _change(args, "rolled back", lambda r: r.rollback())


def run_register(args: argparse.Namespace) -> int:
    """``models register NAME [--role] [--package DIR]``."""
    return _change(args, f"registered {args.name} as {args.role}",
                   lambda r: r.register(args.name, args.role, package=args.package))


def run_reset(args: argparse.Namespace) -> int:
    """``models reset``."""
    return _change(args, "reset", lambda r: r.reset())


def _running(state_dir: Path) -> dict[str, Any] | None:
    status = read_status(state_dir)
    fresh = status and time.time() - float(status.get("updated", 0)) < RUNNING_WITHIN_S
    if status and fresh and status.get("running", True):
        return status
    return None


def run_list(args: argparse.Namespace) -> int:
    """``models list``: the running appliance's figures, else the configuration's roles."""
    config, registry = _registry(args)
    try:
        cfg = registry.effective()
    except ClassifierError as exc:
        raise CliError(str(exc)) from None
    running = _running(state_dir_of(config))
    rows = _list_rows(cfg, running)
    heads = heads_in_use(cfg)
    if args.json:
        print_json({"running": running is not None, "models": rows, **heads,
                    "canary": running.get("canary") if running else None})
        return 0
    print("running appliance:" if running else "not running; configured (with models.yaml):")
    for r in rows:
        agree = r.get("agreement_with_canary")
        name = f"{r['name']} (blended)" if r.get("blend") else r["name"]
        print(f"  {r['role']:8} {name:28} v{r.get('version', '?'):24} "
              f"load {_ms(r.get('load_ms'))}  infer p50 {_ms(r.get('inference_ms_p50'))}  "
              f"pace {_ms(r.get('pace_ms'))}  "
              f"skipped {r.get('skipped', '-')}  canary agreement "
              f"{'-' if agree is None else f'{agree:.0%}'}")
    if heads["default_head"] is not None:
        print(_head_line("default head", heads["default_head"], "blended with the zero-shot "
                         "models"))
    look = heads["second_look"]
    if look is not None:
        band = (f"from {look['undecided_from']:g} up to the threshold" if not look["error"]
                else "not used: the default head decides every crop")
        print(_head_line("second look", look, f"its crops scored {band}, in the default "
                         "head's place"))
    for camera, head in sorted(heads["camera_heads"].items()):
        print(_head_line(f"camera {camera}", head, "blended for its crops in place of the "
                         "default head"))
    for camera, head in sorted(heads["camera_head_shadows"].items()):
        print(_head_line(f"camera {camera}'s shadow", head, "scored beside it, deciding "
                         "nothing until tensorchicken learn judge promotes it"))
    if running and running.get("canary", {}).get("canary"):
        canary = running["canary"]
        print(("CANARY ALARM: " if canary["alarm"] else "canary: ") + canary["message"])
    if running and running.get("last_error"):
        print(f"last refused change: {running['last_error']}")
    return 0


def _head_line(title: str, head: dict[str, Any], what: str) -> str:
    kind = "re-fitted" if head["folder"] else "shipped"
    return (f"  {title + ':':13} {head['name']} ({kind}{where_it_decides(head)}; {what}; lights: "
            f"{', '.join(head['lights']) or 'none'})")


def _ms(value: Any) -> str:
    return "    -   " if value is None else f"{float(value):6.1f} ms"


def _list_rows(cfg: ModelsConfig, running: dict[str, Any] | None) -> list[dict[str, Any]]:
    if running:
        return list(running.get("models", []))
    specs = load_specs()
    return [{"name": u.name, "role": u.role, "threads": u.threads, "package": u.package,
             **_described(u.name, u.package, specs)} for u in cfg.use]


def _described(name: str, package: str | None, specs: dict[str, Any]) -> dict[str, Any]:
    """A manifest model's version, or a package's version and blend weight (from its
    ``package.yaml``)."""
    if not package:
        return {"version": str(specs[name].version) if name in specs else "?", "blend": None}
    try:
        info = read_package(Path(package))
    except ClassifierError as exc:
        return {"version": f"? ({exc})", "blend": None}
    return {"version": info.version, "blend": info.blend}


# -- compare ---------------------------------------------------------------------------------


def _pictures(args: argparse.Namespace, config: Config) -> list[tuple[str, np.ndarray, str]]:
    """(name, RGB picture, label or '') to compare on."""
    if args.manifest:
        root = manifest_root(args.manifest, args.root)
        rows = read_manifest(args.manifest)
        pictures = [(r.file, root / r.file, r.label) for r in rows]
        if args.limit:
            pictures = pictures[: args.limit]
        try:
            return [(name, load_image(path), label) for name, path, label in pictures]
        except ClassifierError as exc:
            raise CliError(str(exc)) from None
    archive_dir = state_dir_of(config) / "archive"
    if not archive_dir.is_dir():
        raise CliError(f"{archive_dir}: no archive here; give --manifest CSV [--root DIR]", code=2)
    found = []
    for entry in Archive(archive_dir, config.reporters.archive).entries():
        crop = next((f for f in entry.files if f.name.startswith("crop_")), None)
        if crop is not None and (args.since is None or entry.time >= args.since):
            try:
                found.append((str(entry.path.name), load_exact(crop), ""))
            except (OSError, ValueError) as exc:  # a torn write: the others still compare
                log.warning("left out, cannot be read: %s", exc)
    return found[-args.limit:] if args.limit else found


def compare(models: list[Any], cfg: ModelsConfig,
            pictures: list[tuple[str, np.ndarray, str]]) -> dict[str, Any]:
    """Every model on every picture: verdict counts, agreement with the primary (first) and
    with the canary, latency, and accuracy where pictures are labelled.

    A head that blends (``classifier/blend.py``) is judged as it would decide once promoted:
    blended with the zero-shot models of the critical path (``blended_with``); alone, its
    operating point was never meant to decide."""
    scorer = Classifier(models[:1], thresholds_of(cfg), cfg.deadline_ms)
    roles = {u.name: u.role for u in cfg.use}
    # Primary first (``models`` is in that order), then the critical zero-shot models.
    partners = [m.name for m in models
                if roles.get(m.name) in ("primary", "critical") and m.spec.blend is None]
    verdicts: dict[str, list[str]] = {m.name: [] for m in models}
    times: dict[str, list[float]] = {m.name: [] for m in models}
    for _, rgb, _ in pictures:
        scored = {m.name: scorer.score(m, rgb) for m in models}
        zero_shot = [scored[name][1] for name in partners]
        for model in models:
            score, evidence = scored[model.name]
            verdict = score.verdict
            if evidence.blend is not None and zero_shot:
                both = combine(by_priority([*zero_shot, evidence]), partners[0])
                verdict, _ = verdict_for(both.predator, both.chicken, scorer.thresholds)
            verdicts[model.name].append(verdict.value)
            times[model.name].append(score.total_ms)
    scorer.close()
    labels = [label for _, _, label in pictures]
    canary = next((u.name for u in cfg.use if u.role == "canary"), None)
    primary = models[0].name
    report = {}
    for name, got in verdicts.items():
        report[name] = _model_figures(got, times[name], labels, verdicts[primary],
                                      verdicts.get(canary) if canary else None)
        report[name]["role"] = roles.get(name, "?")
        blends = next(m for m in models if m.name == name).spec.blend is not None
        report[name]["blended_with"] = partners if blends and partners else None
    return {"pictures": len(pictures), "labelled": sum(1 for x in labels if x),
            "primary": primary, "canary": canary, "models": report}


def _model_figures(got: list[str], ms: list[float], labels: list[str], primary: list[str],
                   canary: list[str] | None) -> dict[str, Any]:
    def agreement(other: list[str]) -> float | None:
        if not got:
            return None
        return round(sum(a == b for a, b in zip(got, other, strict=True)) / len(got), 4)

    figures: dict[str, Any] = {
        "verdicts": dict(Counter(got)),
        "agreement_with_primary": agreement(primary),
        "agreement_with_canary": agreement(canary) if canary else None,
        "ms_p50": round(float(np.median(ms)), 2) if ms else None,
        "ms_p95": round(float(np.percentile(ms, 95)), 2) if ms else None,
    }
    pairs = [(label, v) for label, v in zip(labels, got, strict=True) if label]
    if pairs:
        figures["accuracy"] = round(sum(not is_miss(t, v) for t, v in pairs) / len(pairs), 4)
        figures.update(rates(pairs))
    return figures


def run_compare(args: argparse.Namespace) -> int:
    """``models compare``."""
    config, registry = _registry(args)
    if args.root and not args.manifest:
        raise CliError("--root goes with --manifest", code=2)
    try:
        cfg = registry.effective()
        specs = load_specs()
        store = store_from(args, config)
        uses = sorted(cfg.use, key=lambda u: u.role != "primary")
        models = [load_any(u, store, specs) for u in uses]
    except ClassifierError as exc:
        raise CliError(str(exc)) from None
    pictures = _pictures(args, config)
    if not pictures:
        where = (f"{args.manifest} lists no pictures" if args.manifest
                 else "no archived crops (try --since, or --manifest)")
        raise CliError(f"nothing to compare on: {where}", code=2 if args.manifest else 1)
    report = compare(models, cfg, pictures)
    if args.manifest:
        root = manifest_root(args.manifest, args.root)
        hashes = {sha256_of(root / name) for name, _, _ in pictures}
        for model in models:
            report["models"][model.name]["trained_on"] = trained_on(model, hashes)
    if args.json:
        print_json(report)
    else:
        _print_compare(report)
    return 0


def trained_on(model: Any, hashes: set[str]) -> int | None:
    """How many of the compared photos a retrained head learnt from (None: not a head)."""
    info = getattr(model, "info", None)
    photos = info.training.get("photos", []) if info is not None else None
    if photos is None:
        return None
    return len(hashes & {p["sha256"] for p in photos})


def _print_compare(report: dict[str, Any]) -> None:
    print(f"{report['pictures']} pictures ({report['labelled']} labelled); primary "
          f"{report['primary']}, canary {report['canary'] or '-'}")
    print(f"  {'model':28} {'role':8} {'pred':>5} {'chick':>5} {'bg':>5} {'=prim':>6} "
          f"{'=can':>6} {'p50 ms':>7} {'acc':>6} {'recall':>6} {'hen→pred':>8}")
    for name, f in report["models"].items():
        v = f["verdicts"]
        print(f"  {name:28} {f['role']:8} {v.get(Verdict.PREDATOR.value, 0):5d} "
              f"{v.get(Verdict.CHICKEN.value, 0):5d} {v.get(Verdict.BACKGROUND.value, 0):5d} "
              f"{_pct(f['agreement_with_primary'])} {_pct(f['agreement_with_canary'])} "
              f"{f['ms_p50']:7.2f} {_pct(f.get('accuracy'))} {_pct(f.get('predator_recall'))} "
              f"{_pct(f.get('chicken_false_alarm')):>8}")
    for name, f in report["models"].items():
        if f.get("blended_with"):
            print(f"  note: {name} is judged blended with {', '.join(f['blended_with'])}, as it "
                  "decides once promoted")
        if f.get("trained_on"):
            print(f"  note: {name} was trained on {f['trained_on']} of these pictures: its figures "
                  "here are not a fair test (see the held-out figures `train` printed)")


def _pct(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.1%}"

