"""The re-fit of the shipped default head, for a coop whose owner never trained a head.

A new appliance decides with the zero-shot models and the shipped default head
(:mod:`classifier.feature_head`: a softmax over the two MobileNet v2s' 2560 pooled features,
blended in the lights its head.yaml names). It is re-fitted as a package head is
(:func:`edge.learn.refit.refit_head`: from its weights, pulled towards them) on the cameras' own
empty scenes and the owner's labels, embedded by the features the running models already compute
(:class:`PoolExtractor`), gated by the crops it was fitted on (:mod:`classifier.scene_gate`: it
decides near them, the shipped head elsewhere), and compared with the shipped head, each blended
as the classifier blends it (:func:`verdicts`), on the held-out ones. The result is a head of
the same format (``head.npz`` + ``gate.npz`` + ``head.yaml``, :func:`write_head`) under
``<state_dir>/learn/heads/``, recording the shipped head's sha256, the examples' crops' sha256
and the comparison.

The re-fitted head counts in the lights the shipped one does, at its operating points (all
three since the shipped head learnt the detector's boxes). Measured (README, "Measured: leave one
camera out"): a re-fit of the earlier shipped head, blended by day, made a predator event
of the demo's people walking past; the shipped operating points are chosen so that held-out
people and empty scenes are not called predator, and the re-fit keeps them.

Example::

    extractor = PoolExtractor(shipped_head(), zero_shot.models)
    refit = refit_head(shipped_head().layer, features, targets_for(labels, SCHEME), 0.2)
    head = GatedHead.around(shipped_head().layer, refit, features)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from classifier.ensemble import Thresholds, verdict_for
from classifier.feature_head import (
    CLASSES,
    HEAD_FILE,
    INFO_FILE,
    TRAINING_FILES,
    FeatureHead,
    FeatureHeadInfo,
    class_scores,
)
from classifier.head import SoftmaxHead
from classifier.model import Model
from classifier.package import FileRef
from classifier.regime import Regime
from classifier.scene_gate import COVERAGE, GATE_FILE, GatedHead
from edge.learn.errors import LearnError
from edge.learn.examples import Example
from edge.learn.record import learn_dir
from edge.learn.refit import scheme_of
from edge.train.default_head import blended_scores

# The default head's classes, each its own verdict (a person is taught as background, as the
# shipped head learnt people: neither hen nor predator).
SCHEME = scheme_of(CLASSES, {c: c for c in CLASSES})
PERSON = "person"
NAME = "scene-default"


def heads_folder(state_dir: Path) -> Path:
    """Where re-fitted default heads are written: ``<state_dir>/learn/heads``."""
    return learn_dir(state_dir) / "heads"


def target_of(label: str) -> str:
    """The class an owner's label is taught as (a person is background)."""
    return "background" if label == PERSON else label


class PoolExtractorRef:
    """What :class:`~edge.learn.features.FeatureCache` keys features by: the head's sources."""

    def __init__(self, head: FeatureHead) -> None:
        self.model = "+".join(head.sources)
        self.sha256 = hashlib.sha256(
            "".join(s.sha256 for s in head.info.sources).encode()).hexdigest()
        self.outputs = sum(s.size for s in head.info.sources)


class PoolExtractor:
    """The default head's input of a crop: its source models' pooled features, dequantised and
    joined in the head's order, as the classifier reads them after each ``invoke()``."""

    def __init__(self, head: FeatureHead, models: Sequence[Model]) -> None:
        by_name = {m.name: m for m in models}
        missing = [s for s in head.sources if s not in by_name]
        if missing:
            raise LearnError(f"the default head {head.name} reads the features of "
                             f"{', '.join(missing)}, which the classifier does not run")
        self.models = [by_name[s] for s in head.sources]
        self.ref = PoolExtractorRef(head)

    def embed(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The joined features (1, D) of one RGB crop and the ms of the invokes."""
        parts, ms = [], 0.0
        for model in self.models:
            _, pooled, invoke_ms = model.infer(rgb)
            if pooled is None:
                raise LearnError(f"model {model.name} gives no features (manifest 'features:')")
            parts.append(np.asarray(pooled, np.float32).reshape(-1))
            ms += invoke_ms
        return np.concatenate(parts)[None, :], ms


def verdicts(head: SoftmaxHead | GatedHead, points: dict[Regime, float], weight: float,
             features: np.ndarray, partner: np.ndarray, regimes: Sequence[Regime],
             thresholds: Thresholds) -> list[str]:
    """Each row's verdict as the classifier gives it with ``head`` as its default head: blended
    with the zero-shot ``partner`` scores (predator, chicken) in the lights ``points`` names,
    the zero-shot scores alone in the others."""
    scores = blended_scores(class_scores(head, features), partner, regimes, points, weight)
    return [verdict_for(float(p), float(c), thresholds)[0].value for p, c in scores]


def head_name(camera: str) -> str:
    """The name a camera's re-fitted default head goes by (before its version)."""
    return f"{NAME}-{camera}"


def write_head(folder: Path, base: FeatureHead, head: GatedHead, camera: str, version: str,
               examples: Sequence[Example], fit: np.ndarray, training: dict[str, Any],
               metrics: dict[str, Any]) -> FeatureHeadInfo:
    """Write ``head.npz`` (the re-fit), ``gate.npz`` (its scene gate), ``training_files.txt``
    (sha256 and label of every fitted crop) and ``head.yaml`` into ``folder``: ``camera``'s
    re-fit, in the format of the shipped head, loadable by
    :func:`classifier.feature_head.load_feature_head`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = head.refit.to_bytes()
    (folder / HEAD_FILE).write_bytes(data)
    gate = head.gate_bytes()
    (folder / GATE_FILE).write_bytes(gate)
    lines = sorted(f"{hashlib.sha256(e.path.read_bytes()).hexdigest()} {target_of(e.label)} "
                   f"{e.camera}/{e.path.name}\n" for e, f in zip(examples, fit, strict=True) if f)
    text = "".join(lines)
    (folder / TRAINING_FILES).write_text(text, encoding="utf-8")
    base_sha = base.info.head.sha256
    info = base.info.model_copy(update={
        "name": head_name(camera), "version": version,
        "description": f"{base.name} re-fitted on camera {camera}'s own scenes and labels",
        "head": FileRef(file=HEAD_FILE, sha256=hashlib.sha256(data).hexdigest()),
        "gate": FileRef(file=GATE_FILE, sha256=hashlib.sha256(gate).hexdigest()),
        "training": {"learn": {"base": base.name, "base_sha256": base_sha, **training,
                               "gate": {"crops": len(head.gate.anchors), "coverage": COVERAGE,
                                        "neighbours": head.gate.neighbours,
                                        "similarity": round(head.gate.similarity, 4)}},
                     "files": {"list": TRAINING_FILES, "count": len(lines),
                               "sha256": hashlib.sha256(text.encode()).hexdigest()}},
        "metrics": metrics,
    })
    body = yaml.safe_dump(info.model_dump(mode="json"), sort_keys=False)
    (folder / INFO_FILE).write_text(
        f"# A re-fitted default head, by tensorchicken learn refit ({time.strftime('%Y-%m-%d')})\n"
        + body, encoding="utf-8")
    return info
