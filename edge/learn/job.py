"""The re-fit and the judgement, as run nightly (or on demand) in a low-priority process.

:func:`refit`: the cameras' empty scenes (and uncontested "nothing" motion, once its delay has
passed) and the owner's labels of each camera's events are embedded; the head that decides now
is re-fitted from its base on the fitted ones (:mod:`edge.learn.refit`), compared with the
running head on each camera's held-out ones (:mod:`edge.learn.judge`), written as a package
(``scene-<version>``) and registered as a **shadow**: it now scores every live crop beside the
running head and decides nothing. A re-fit of the shipped default head (:func:`refit_default`) is
written as a head folder and registered as the default head's shadow: it is scored on the same
features as the default head, beside it.

:func:`judge_candidate`: once the candidate has been a shadow for ``learn.shadow_hours``, its
live answers are compared with the decisions (:mod:`edge.learn.shadow`) and, with the held-out
comparison, decide: promoted (it joins the critical path as the blended head, through the
registry, so ``tensorchicken models rollback`` undoes it and the canary watches it), or left a
shadow with the reasons. Both are written to the record (:mod:`edge.learn.record`).

Example::

    run = refit(config, asset_store, state_dir)            # what it fitted and how it compares
    run = judge_candidate(config, state_dir)               # promote or say why not
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier import load_classifier
from classifier.ensemble import Thresholds
from classifier.errors import ModelError
from classifier.feature_head import FeatureHead, load_feature_head, shipped_head
from classifier.package import PackageModel, checked_file, load_package_model, write_package
from classifier.regime import regime_of
from classifier.registry import ModelRegistry, RegistryError
from classifier.scene_gate import GatedHead, layer_of
from classifier.verdict_map import read_groups
from edge.assets import AssetStore
from edge.config import Config
from edge.events.archive import Archive, event_camera
from edge.events.log import EventLog
from edge.learn import default as shipped
from edge.learn.errors import LearnError
from edge.learn.examples import Example, camera_examples
from edge.learn.features import FeatureCache
from edge.learn.heads import LEARN_KEY, base_package, joined_head, running_head, zero_shot_config
from edge.learn.judge import CameraComparison, Judgement, compare_camera, judge
from edge.learn.quiet import adopt_uncontested
from edge.learn.record import LearnRecord, learn_dir
from edge.learn.refit import VerdictRule, decider_of, refit_head, scheme_of, targets_for
from edge.learn.scenes import SceneStore, scenes_dir
from edge.learn.shadow import shadow_disagreements
from edge.train.labels import LABELS_FILE, ArchivedCrop, LabelStore, archived_crops
from edge.train.retrain import peak_memory_mb

log = logging.getLogger(__name__)

PACKAGE_NAME = "scene"
EVENTS_FILE = "events.sqlite3"
# Re-fitted packages kept on disk beyond those the registry names (for a look back).
KEEP_PACKAGES = 3


def packages_folder(state_dir: Path) -> Path:
    """Where re-fitted packages are written: ``<state_dir>/learn/packages``."""
    return learn_dir(state_dir) / "packages"


def _crops(config: Config, state_dir: Path) -> list[ArchivedCrop]:
    archive = Archive(state_dir / "archive", config.reporters.archive)
    return archived_crops(archive, LabelStore(state_dir / LABELS_FILE), state_dir / EVENTS_FILE)


def _owner_said(crops: Sequence[ArchivedCrop], camera: str) -> list[float]:
    """Times of the owner's labels of something (not "nothing") on ``camera``."""
    return [c.time for c in crops if c.correction is not None
            and c.correction.label != "background" and event_camera(c.event) == camera]


def gather(config: Config, state_dir: Path, now: float) -> list[Example]:
    """Every camera's examples, after uncontested "nothing" crops have joined the scenes."""
    cfg = config.learn
    store = SceneStore(scenes_dir(state_dir), cfg.per_hour, cfg.refresh_h)
    crops = _crops(config, state_dir)
    examples: list[Example] = []
    for camera in [c.name for c in config.cameras]:
        adopt_uncontested(store, camera, now, cfg.uncontested_after_h * 3600.0,
                          _owner_said(crops, camera))
        examples += camera_examples(camera, store, crops, cfg.max_examples)
    return examples


@dataclass(frozen=True, slots=True)
class _Heads:
    base: PackageModel
    running: PackageModel
    rule: VerdictRule


def _load_heads(config: Config, store: AssetStore, state_dir: Path) -> _Heads:
    effective = ModelRegistry(state_dir, config.models).effective()
    head = running_head(effective)
    base_path = base_package(head)
    # One thread: the re-fit runs beside the appliance, at the lowest priority.
    base = load_package_model(base_path, store, threads=1)
    running = base if Path(str(head.package)) == base_path else load_package_model(
        Path(str(head.package)), store, threads=1)
    scheme = scheme_of(base.labels, {c: base.verdicts.verdict_of(c).value  # type: ignore[union-attr]
                                     for c in base.labels})
    rule = decider_of(scheme, base.info.blend, effective.predator_threshold,
                      effective.chicken_threshold)
    return _Heads(base, running, rule)


def refit(config: Config, store: AssetStore, state_dir: Path, now: float | None = None,
          version: str | None = None) -> dict[str, Any]:
    """Re-fit, compare, write and register the candidate as a shadow; the run's record.

    Without a head the owner trained and promoted, the shipped default head is re-fitted
    (:func:`refit_default`)."""
    started, now = time.perf_counter(), now if now is not None else time.time()
    if joined_head(ModelRegistry(state_dir, config.models).effective()) is None \
            and config.models.default_head:
        return refit_default(config, store, state_dir, now, version)
    heads = _load_heads(config, store, state_dir)
    examples, fit = _examples(config, state_dir, now)
    zero_shot = load_classifier(zero_shot_config(
        ModelRegistry(state_dir, config.models).effective()), store)
    try:
        cache = FeatureCache(learn_dir(state_dir), heads.base.extractor.ref.sha256)
        features, partner = cache.embed(examples, heads.base.extractor, zero_shot)
        cache.save()
    finally:
        zero_shot.close()
    labels = [e.label for e in examples]
    base = layer_of(heads.base.head)
    refit = refit_head(base, features[fit],
                       targets_for([label for label, f in zip(labels, fit, strict=True) if f],
                                   heads.rule.scheme), config.learn.prior_l2)
    # Decides near the crops it was fitted on only, its base elsewhere (classifier.scene_gate).
    head = GatedHead.around(base, refit, features[fit])
    judgement = judge(_comparisons(
        examples,
        lambda rows: heads.rule.verdicts(heads.running.head.probabilities(features[rows]),
                                         partner[rows]),
        lambda rows: heads.rule.verdicts(head.probabilities(features[rows]), partner[rows])))
    version = version or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    path = _write(heads, head, version, examples, fit, config, state_dir, judgement, now)
    name = f"{PACKAGE_NAME}-{version}"
    _replace_candidate(state_dir, config, name, path)
    run = {
        "kind": "refit", "at": now, "candidate": name, "base": heads.base.name,
        "running": heads.running.name, "examples": _counts(examples, fit),
        "within_scene": {c: _within_scene(head, features[_held(examples, fit, c)])
                         for c in sorted({e.camera for e in examples})},
        "offline": judgement.to_dict(), "seconds": round(time.perf_counter() - started, 1),
        "peak_mb": round(peak_memory_mb(), 1),
    }
    candidate = {"name": name, "package": str(path), "registered_at": now,
                 "running": heads.running.name, "blend": heads.base.info.blend,
                 "offline": judgement.to_dict(), "judged": None}
    LearnRecord(state_dir).add(run, candidate)
    log.info("re-fit %s from %s on %d crops in %.1f s: %s", name, heads.base.name,
             int(fit.sum()), run["seconds"], "; ".join(judgement.reasons) or "passes so far")
    return run


def _examples(config: Config, state_dir: Path, now: float) -> tuple[list[Example], np.ndarray]:
    """Every camera's examples and which are fitted; LearnError when none is."""
    examples = gather(config, state_dir, now)
    fit = np.array([not e.held_out for e in examples], dtype=bool)
    if not fit.any():
        raise LearnError("nothing to learn yet: no camera has collected empty scenes or "
                         "labelled events to fit on (the collector samples a still scene every "
                         f"{config.learn.scene_interval_s:g} s)")
    return examples, fit


def _comparisons(examples: Sequence[Example], running: Callable[[list[int]], list[str]],
                 candidate: Callable[[list[int]], list[str]]) -> list[CameraComparison]:
    """Each camera's held-out examples' verdicts by the running head and by the candidate
    (each a function of the rows), compared."""
    return [_compared(examples, camera, running, candidate)
            for camera in sorted({e.camera for e in examples})]


def _compared(examples: Sequence[Example], camera: str,
              running: Callable[[list[int]], list[str]],
              candidate: Callable[[list[int]], list[str]]) -> CameraComparison:
    """``camera``'s held-out examples' verdicts by the running head and by the candidate."""
    rows = [i for i, e in enumerate(examples) if e.camera == camera and e.held_out]
    if not rows:
        return CameraComparison(camera, {}, 0, 0, 0)
    return compare_camera(camera, [examples[i] for i in rows], running(rows), candidate(rows))


def refit_default(config: Config, store: AssetStore, state_dir: Path, now: float,
                  version: str | None = None) -> dict[str, Any]:
    """Re-fit the shipped default head (:mod:`edge.learn.default`) once per camera, on that
    camera's own examples (two cameras of one coop see different things), compare each with the
    head blended for that camera now on the camera's held-out ones (each blended as the
    classifier blends it), write them under ``<state_dir>/learn/heads`` and register each as its
    camera's shadow; together they are the candidate, judged camera by camera."""
    started = time.perf_counter()
    # Always from the shipped head (re-fits never drift from night to night), compared with
    # the one blended now for the camera: the shipped head, or its re-fit promoted earlier.
    base = shipped_head()
    effective = ModelRegistry(state_dir, config.models).effective()
    examples, fit = _examples(config, state_dir, now)
    zero_shot = load_classifier(zero_shot_config(effective), store)
    try:
        extractor = shipped.PoolExtractor(base, zero_shot.models)
        cache = FeatureCache(learn_dir(state_dir), extractor.ref.sha256)
        features, partner = cache.embed(examples, extractor, zero_shot)
        cache.save()
    finally:
        zero_shot.close()
    # The light of each held-out crop, as the classifier tells it (a default head counts only
    # in the lights its head.yaml names).
    regimes = {i: regime_of(e.load()) for i, e in enumerate(examples) if e.held_out}
    th = Thresholds(config.models.predator_threshold, config.models.chicken_threshold)
    weight = base.info.blend
    version = version or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))

    def said(model: Any, points: Any) -> Callable[[list[int]], list[str]]:
        return lambda rows: shipped.verdicts(model, points, weight, features[rows],
                                             partner[rows], [regimes[i] for i in rows], th)

    comparisons, heads, fitted = [], {}, {}
    within: dict[str, list[int]] = {}
    for camera in sorted({e.camera for e in examples}):
        mine = np.array([e.camera == camera for e in examples], dtype=bool)
        if not (mine & fit).any():  # only held-out crops yet: nothing to fit this camera on
            comparisons.append(CameraComparison(camera, {}, 0, 0, 0))
            continue
        running = _blended_for(camera, effective.camera_heads.get(camera), base)
        labels = [shipped.target_of(examples[i].label) for i in np.flatnonzero(mine & fit)]
        refit = refit_head(base.layer, features[mine & fit], targets_for(labels, shipped.SCHEME),
                           config.learn.default_prior_l2)
        # Decides near the crops it was fitted on only, the shipped head elsewhere (where it
        # learnt nothing; classifier.scene_gate says what that keeps).
        head = GatedHead.around(base.layer, refit, features[mine & fit])
        comparison = _compared(examples, camera,
                               said(running.head, running.info.operating_points),
                               said(head, base.info.operating_points))
        comparisons.append(comparison)
        folder = shipped.heads_folder(state_dir) / f"{shipped.head_name(camera)}-{version}"
        info = shipped.write_head(folder, base, head, camera, version, examples, mine & fit,
                                  {"prior_l2": config.learn.default_prior_l2,
                                   "examples": _counts([examples[i] for i in
                                                        np.flatnonzero(mine)], fit[mine])},
                                  {"held_out": judge([comparison]).to_dict()})
        heads[camera] = (info.model_name, folder)
        fitted[camera] = {"name": info.model_name, "head": str(folder), "running": running.name}
        within[camera] = _within_scene(head, features[mine & ~fit])
    judgement = judge(comparisons)
    registry = ModelRegistry(state_dir, config.models)
    registry.shadow_heads(heads)  # scored beside each camera's default head from now on
    state = registry.state()
    _prune(shipped.heads_folder(state_dir), {*state.heads.values(), *state.head_shadows.values(),
                                            *(u["head"] for u in state.history if u.get("head"))})
    name = f"{shipped.NAME}-{version}"
    running_names = ", ".join(sorted({c["running"] for c in fitted.values()}))
    run = {
        "kind": "refit", "start": "default", "at": now, "candidate": name, "base": base.name,
        "running": running_names, "heads": {c: h["name"] for c, h in fitted.items()},
        "examples": _counts(examples, fit), "offline": judgement.to_dict(),
        "within_scene": within,
        "seconds": round(time.perf_counter() - started, 1), "peak_mb": round(peak_memory_mb(), 1),
    }
    candidate = {"name": name, "cameras": fitted, "registered_at": now, "blend": weight,
                 "offline": judgement.to_dict(), "judged": None}
    LearnRecord(state_dir).add(run, candidate)
    log.info("re-fit the default head for %s on %d crops in %.1f s: %s",
             ", ".join(sorted(fitted)), int(fit.sum()), run["seconds"],
             "; ".join(judgement.reasons) or "passes so far")
    return run


def _blended_for(camera: str, folder: str | None, shipped_one: FeatureHead) -> FeatureHead:
    """The default head blended for ``camera`` now: its promoted re-fit in ``folder``, else
    (none, or one that no longer loads, as the classifier then falls back) the shipped one."""
    if folder is None:
        return shipped_one
    try:
        return load_feature_head(Path(folder))
    except ModelError as exc:
        log.warning("camera %s: its re-fitted default head does not load, the shipped one is "
                    "compared with: %s", camera, exc)
        return shipped_one


def _held(examples: Sequence[Example], fit: np.ndarray, camera: str) -> np.ndarray:
    """Which examples are ``camera``'s held-out ones."""
    return np.array([e.camera == camera for e in examples], dtype=bool) & ~fit


def _within_scene(head: GatedHead, held: np.ndarray) -> list[int]:
    """[how many of a camera's held-out crops (their features ``held``) the re-fit's scene gate
    takes in, how many there are]: the re-fit decides those, the head it started from the
    rest; how much of its scene the camera's re-fit has learnt to recognise."""
    if len(held) == 0:
        return [0, 0]
    return [int(head.gate.near(head.refit.standardised(held)).sum()), len(held)]


def _counts(examples: Sequence[Example], fit: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for e, f in zip(examples, fit, strict=True):
        mine = out.setdefault(e.camera, {"fit": {}, "held_out": {}})
        side = mine["fit" if f else "held_out"]
        key = e.label if e.kind == "owner" else f"empty_{e.light}"
        side[key] = side.get(key, 0) + 1
    return out


def _write(heads: _Heads, head: Any, version: str, examples: Sequence[Example], fit: np.ndarray,
           config: Config, state_dir: Path, judgement: Judgement, now: float) -> Path:
    base = heads.base
    groups = read_groups(checked_file(base.path, base.info.verdicts, "verdict map"))
    info = base.info.model_copy(update={
        "name": PACKAGE_NAME, "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "description": f"{base.name} re-fitted on this coop's cameras "
                       f"({', '.join(sorted({e.camera for e in examples}))})",
        "training": {LEARN_KEY: {"base": base.name, "base_package": str(base.path),
                                 "prior_l2": config.learn.prior_l2,
                                 "examples": _counts(examples, fit)}},
        "metrics": {"held_out": judgement.to_dict()}, "head": None, "verdicts": None,
    })
    return write_package(packages_folder(state_dir), info, head, groups)


def _replace_candidate(state_dir: Path, config: Config, name: str, path: Path) -> None:
    """Register ``name`` as a shadow, in place of the previous candidate if it was never
    promoted; prune old unregistered packages."""
    registry = ModelRegistry(state_dir, config.models)
    previous = LearnRecord(state_dir).candidate()
    if previous is not None:
        try:
            registry.unregister(previous["name"])
        except RegistryError as exc:
            log.info("previous candidate %s stays: %s", previous["name"], exc)
    registry.register(name, "shadow", package=path)
    _prune(packages_folder(state_dir), set(registry.state().packages.values()))


def _prune(folder: Path, named: set[str]) -> None:
    """Remove the oldest of ``folder``'s re-fits beyond ``KEEP_PACKAGES``, except those the
    registry names (``named``: resolved folders) and so a rollback may need."""
    old = sorted(p for p in folder.iterdir() if p.is_dir() and str(p.resolve()) not in named)
    for stale in old[:-KEEP_PACKAGES] if len(old) > KEEP_PACKAGES else []:
        for f in stale.iterdir():
            f.unlink()
        stale.rmdir()


def judge_candidate(config: Config, state_dir: Path, now: float | None = None,
                    force: bool = False) -> dict[str, Any]:
    """Judge the shadow candidate on its live answers too; promote it or say why not (a
    default head's re-fits camera by camera: each camera's that earns it is promoted)."""
    now = now if now is not None else time.time()
    record = LearnRecord(state_dir)
    cand = record.candidate()
    if cand is None:
        raise LearnError("no re-fitted head is waiting to be judged (run tensorchicken learn "
                         "refit first)")
    waited_h = (now - float(cand["registered_at"])) / 3600.0
    if waited_h < config.learn.shadow_hours and not force:
        return {"kind": "judge", "at": now, "candidate": cand["name"], "deferred": True,
                "reasons": [f"a shadow for {waited_h:.1f} h of the {config.learn.shadow_hours:g}"
                            " h it needs before judgement"]}
    if "cameras" in cand:
        return _judge_cameras(config, state_dir, cand, now, waited_h)
    shadow = _shadow(config, state_dir, cand["registered_at"], {
        c.name: (cand["name"], cand["running"]) for c in config.cameras}, cand.get("blend"))
    offline = [CameraComparison.from_dict(c) for c in cand["offline"]["cameras"]]
    judgement = judge(offline, shadow)
    promoted = judgement.promote
    if promoted:
        ModelRegistry(state_dir, config.models).promote(cand["name"])
    run = {"kind": "judge", "at": now, "candidate": cand["name"], "promoted": promoted,
           "reasons": judgement.reasons, "shadow_hours": round(waited_h, 1),
           "shadow_disagreements": [d.to_dict() for d in shadow]}
    record.add(run, None if promoted else {**cand, "judged": now, "reasons": judgement.reasons})
    log.info("candidate %s %s", cand["name"], "promoted" if promoted else
             "stays a shadow: " + "; ".join(judgement.reasons))
    return run


def _judge_cameras(config: Config, state_dir: Path, cand: dict[str, Any], now: float,
                   waited_h: float) -> dict[str, Any]:
    """Each camera's re-fitted default head judged on that camera's held-out examples and
    live answers: promoted for that camera, or left its shadow with the reasons."""
    heads: dict[str, dict[str, Any]] = cand["cameras"]
    shadow = _shadow(config, state_dir, cand["registered_at"],
                     {camera: (h["name"], h["running"]) for camera, h in heads.items()},
                     cand.get("blend"))
    offline = {c["camera"]: CameraComparison.from_dict(c) for c in cand["offline"]["cameras"]}
    registry = ModelRegistry(state_dir, config.models)
    outcome, left = {}, {}
    for camera, head in sorted(heads.items()):
        judgement = judge([offline[camera]] if camera in offline else [],
                          [d for d in shadow if d.camera == camera])
        reasons = [r if r.startswith(f"{camera}:") else f"{camera}: {r}"
                   for r in judgement.reasons]
        if judgement.promote:
            registry.promote_head(head["name"], Path(head["head"]), camera)
        else:
            left[camera] = head
        outcome[camera] = {"name": head["name"], "promoted": judgement.promote,
                           "reasons": reasons}
    reasons = [r for o in outcome.values() for r in o["reasons"]]
    run = {"kind": "judge", "at": now, "candidate": cand["name"],
           "promoted": any(o["promoted"] for o in outcome.values()), "cameras": outcome,
           "reasons": reasons, "shadow_hours": round(waited_h, 1),
           "shadow_disagreements": [d.to_dict() for d in shadow]}
    LearnRecord(state_dir).add(run, {**cand, "cameras": left, "judged": now, "reasons": reasons}
                               if left else None)
    for camera, o in outcome.items():
        log.info("candidate %s %s", o["name"], f"promoted for camera {camera}" if o["promoted"]
                 else "stays a shadow: " + "; ".join(o["reasons"]))
    return run


def _shadow(config: Config, state_dir: Path, since: float,
            names: dict[str, tuple[str, str]], blend: float | None) -> list[Any]:
    """The candidate's disagreements with the decisions since it was registered (``since``);
    ``names``: per camera, the candidate's name and the running head's in the events."""
    try:
        with EventLog(state_dir / EVENTS_FILE, readonly=True) as events_log:
            events = events_log.list(since=float(since))
    except Exception as exc:  # no event log yet: no live answers to judge
        log.info("no shadow answers to judge: %s", exc)
        return []
    owner = {c.event.rsplit("/", 1)[-1]: c.correction.label
             for c in _crops(config, state_dir) if c.correction is not None}
    th = Thresholds(config.models.predator_threshold, config.models.chicken_threshold)
    weight = float(blend or 0.5)
    found = []
    for camera, (candidate, running) in names.items():
        found += shadow_disagreements(events, camera, candidate, running, weight, th, owner)
    return found
