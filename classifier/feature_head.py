"""The default head: a softmax layer over features the zero-shot models already compute.

Both MobileNet v2s (ImageNet and iNat birds) end in a global average pool of 1280 values, then
their classification layer. The manifest names that pool (``features:``) and
:meth:`classifier.model.TFLiteModel.infer` reads it after each ``invoke()``, so the head costs
one 2560 x 3 multiply-add per crop (microseconds) instead of a third network. It is trained on
the project's corpus (``scripts/build_default_head.py``, from ``shared/data`` and
``shared/data/train``), ships with the product under ``classifier/data/default_head/`` and is
blended with the zero-shot combination in log-odds (``classifier/blend.py``), as a package head
is: the corpus' gaps (few hens under IR, few empty fixed-camera scenes) would make it over-eager
alone (see ``shared/data/train/README.md``, "A measured trap").

The folder holds ``head.npz`` (:class:`~classifier.head.SoftmaxHead`, arrays only) and
``head.yaml`` (:class:`FeatureHeadInfo`: which models and tensors feed it, with their files'
sha256, the blend weight, the training files' sha256 and the held-out metrics). At load the
head file must have the recorded sha256 and each source model the file the head was trained on.

Example::

    head = load_feature_head()                                   # the shipped one
    answer = head.timed_scores({"mobilenet_v2_imagenet": f1, "mobilenet_v2_inat_birds": f2},
                               Regime.DAY_COLOUR)      # scores, ms, within_scene
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from classifier.blend import log_odds
from classifier.config import ModelsConfig
from classifier.errors import ModelError
from classifier.head import SoftmaxHead
from classifier.model import Model
from classifier.package import FileRef, checked_file
from classifier.regime import Regime
from classifier.scene_gate import GatedHead, layer_of
from classifier.spec import ModelSpec, declared_sha256

log = logging.getLogger(__name__)

DEFAULT_HEAD_DIR = Path(__file__).resolve().parent / "data" / "default_head"
# The second look: a head on the default head's features and the embedding extractor's, asked
# only about the crops the default head leaves undecided (classifier/second_look.py).
SECOND_LOOK_DIR = Path(__file__).resolve().parent / "data" / "second_look"
INFO_FILE = "head.yaml"
HEAD_FILE = "head.npz"
# The sha256, label and path of each picture a head was trained on, a line each.
TRAINING_FILES = "training_files.txt"
CLASSES = ("background", "chicken", "predator")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSource(_Strict):
    """One model whose features the head reads: manifest name, file and its sha256, tensor."""

    model: str
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tensor: str
    size: int = Field(gt=0)


class FeatureHeadInfo(_Strict):
    """The contents of ``head.yaml``."""

    format: Literal[1] = 1
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    sources: list[FeatureSource] = Field(min_length=1)
    head: FileRef
    gate: FileRef | None = Field(
        None, description="a re-fit's scene gate (classifier.scene_gate): the re-fit decides "
        "only near the crops it was fitted on, the head it was re-fitted from elsewhere")
    blend: float = Field(gt=0, le=1, description="the head's weight in the log-odds blend")
    operating_points: dict[Regime, float] = Field(
        default_factory=lambda: dict.fromkeys(Regime, 0.5),
        description="the lights (classifier.regime) the head is used in and, for each, the "
        "blended predator score that counts as the configured threshold's 0.5 there; in a "
        "light it does not name the zero-shot models decide alone")
    undecided_from: float | None = Field(
        None, gt=0, lt=1, description="a second look: the head decides only crops whose "
        "default blend's predator score lies from this up to the threshold (its operating "
        "points were chosen for that band); None: an ordinary head, asked about every crop")
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)

    @field_validator("operating_points")
    @classmethod
    def _points_between_0_and_1(cls, points: dict[Regime, float]) -> dict[Regime, float]:
        bad = {str(k): v for k, v in points.items() if not 0.0 < v < 1.0}
        if bad:
            raise ValueError(f"operating points are between 0 and 1, got {bad}")
        return points

    @property
    def model_name(self) -> str:
        """The name the head goes by in answers: ``<name>-<version>``."""
        return f"{self.name}-{self.version}"


class HeadScores(NamedTuple):
    """One crop's answer from a :class:`FeatureHead`."""

    scores: np.ndarray  # (3,) in CLASSES order, the predator one at the light's operating point
    ms: float
    # A gated re-fit (classifier/scene_gate.py): True when the crop was within its scene, so the
    # re-fit decided it, False when the head it was re-fitted from did. None: not a re-fit.
    within_scene: bool | None


class FeatureHead:
    """A loaded, checked head over the source models' features. Pure, so thread-safe."""

    def __init__(self, info: FeatureHeadInfo, head: SoftmaxHead | GatedHead) -> None:
        self.info = info
        self.head = head
        self.name = info.model_name
        self.sources = tuple(s.model for s in info.sources)

    @property
    def layer(self) -> SoftmaxHead:
        """The softmax layer itself (a gated re-fit's own, without its gate): what a re-fit
        starts from."""
        return layer_of(self.head)

    def features(self, by_model: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The head's input from each source model's features; None if one is missing."""
        if not all(name in by_model for name in self.sources):
            return None
        return np.concatenate([np.asarray(by_model[n], np.float32).reshape(-1)
                               for n in self.sources])

    def timed_scores(self, by_model: Mapping[str, np.ndarray], regime: Regime
                     ) -> HeadScores | None:
        """The scores of one crop (:class:`HeadScores`), the ms they took, and whether a re-fit
        decided it within its scene; None if a source model's features are missing (it was late
        or failed) or the head is not used in ``regime``: the zero-shot answer then decides
        alone."""
        x = self.features(by_model)
        if x is None:
            return None
        started = time.perf_counter()
        answered = self._answer(x, regime)
        if answered is None:
            return None
        probs, near = answered
        return HeadScores(probs[0], (time.perf_counter() - started) * 1000.0,
                          None if near is None else bool(near[0]))

    def _answer(self, features: np.ndarray, regime: Regime
                ) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Scores (N, 3) in :data:`CLASSES` order for features (N, inputs) of crops taken in
        ``regime``, the predator one moved to that light's operating point
        (:func:`to_operating_point`), and per row whether a gated re-fit decided it (None: not
        gated); None in a light the head is not used in."""
        point = self.info.operating_points.get(regime)
        if point is None:
            return None
        if isinstance(self.head, GatedHead):
            probs, near = self.head.decide(features)
        else:
            probs, near = self.head.probabilities(features), None
        probs = in_class_order(self.head, probs)
        column = CLASSES.index("predator")
        probs[:, column] = to_operating_point(probs[:, column], point, self.info.blend)
        return probs, near


def to_operating_point(predator: np.ndarray, point: float, weight: float) -> np.ndarray:
    """The head's predator probabilities moved in log-odds so that the blend with weight
    ``weight`` gives 0.5 where it would have given ``point``: the blend moves by
    ``weight * shift``, so the head's log-odds move by ``logit(point) / weight``. One
    threshold then serves the zero-shot models alone and the blend, each at its own point."""
    shift = float(log_odds(point)) / weight
    if shift == 0.0:
        return predator
    return np.asarray(1.0 / (1.0 + np.exp(-(log_odds(predator) - shift))))


def class_scores(head: SoftmaxHead | GatedHead, features: np.ndarray) -> np.ndarray:
    """``head``'s probabilities (N, 3) in :data:`CLASSES` order for features (N, inputs)."""
    return in_class_order(head, head.probabilities(features))


def in_class_order(head: SoftmaxHead | GatedHead, probs: np.ndarray) -> np.ndarray:
    """``head``'s probabilities (N, classes) with their columns in :data:`CLASSES` order."""
    return probs[:, [head.classes.index(c) for c in CLASSES]]


def read_info(folder: Path) -> FeatureHeadInfo:
    """The ``head.yaml`` of ``folder``; ModelError naming the file."""
    file = Path(folder) / INFO_FILE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{file}: missing; {folder} is not a feature head") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"{file}: cannot read the head's description: {exc}") from None
    try:
        return FeatureHeadInfo.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ModelError(f"{file}: {problems}") from None


def load_feature_head(folder: Path = DEFAULT_HEAD_DIR) -> FeatureHead:
    """The head in ``folder`` (the shipped one by default), its file checked by sha256; a
    re-fit with a scene gate (``gate:``) gated by it, its file checked too."""
    info = read_info(folder)
    head = SoftmaxHead.load(checked_file(Path(folder), info.head, "head"))
    if set(head.classes) != set(CLASSES):
        raise ModelError(f"{folder}/{HEAD_FILE}: classes {list(head.classes)}, expected "
                         f"{list(CLASSES)}")
    if head.inputs != sum(s.size for s in info.sources):
        raise ModelError(f"{folder}/{HEAD_FILE}: takes {head.inputs} features, its sources give "
                         f"{sum(s.size for s in info.sources)}")
    if info.gate is not None:
        return FeatureHead(info, GatedHead.load(head, checked_file(Path(folder), info.gate,
                                                                   "scene gate")))
    return FeatureHead(info, head)


@functools.cache
def shipped_head() -> FeatureHead:
    """The default head shipped with the product, loaded once per process."""
    return load_feature_head(DEFAULT_HEAD_DIR)


def fits(head: FeatureHead, specs: Sequence[ModelSpec], sha256_of_file: Mapping[str, str]
         ) -> str | None:
    """Why ``head`` cannot read the features of models ``specs`` (None if it can): a source
    model is not among them, names no such tensor, or has another file than the head was
    trained on (``sha256_of_file``: the asset manifest's sha256 per file name)."""
    by_name = {s.name: s for s in specs}
    for source in head.info.sources:
        spec = by_name.get(source.model)
        if spec is None:
            return f"model {source.model} is not on the critical path"
        if spec.features != source.tensor:
            return f"model {source.model} does not give tensor {source.tensor}"
        if spec.file != source.file or sha256_of_file.get(spec.file) != source.sha256:
            return (f"model {source.model} is not the file the head was trained on "
                    f"({source.file}, sha256 {source.sha256})")
    return None


@functools.cache
def _manifest_sha256() -> dict[str, str]:
    return declared_sha256()  # the asset manifest the loader verifies files by


@functools.cache
def _refitted(folder: str) -> FeatureHead:
    return load_feature_head(Path(folder))


def head_for(enabled: bool, models: Sequence[Model]) -> FeatureHead | None:
    """The shipped default head for a classifier of ``models`` when ``enabled`` (the
    configuration's ``models.default_head``) and it can read their features; None otherwise,
    with a warning saying why when it was wanted (the zero-shot models then decide alone, as
    before it existed)."""
    if not enabled:
        return None
    return _reading(shipped_head(), models, "is not used")


def camera_heads_for(enabled: bool, models: Sequence[Model], folders: Mapping[str, str],
                     role: Literal["blended", "shadow"]) -> dict[str, FeatureHead]:
    """Per camera, the re-fitted default head in its folder (``folders``: camera name → folder,
    ``models.camera_heads`` or ``models.camera_head_shadows``), for a classifier of ``models``
    whose default head is ``enabled``. A head that cannot be loaded or cannot read ``models``'
    features is left out with a warning: for a ``blended`` one, that camera's crops get the
    shipped head; a ``shadow`` is simply not scored (the decision is the same either way)."""
    if not enabled:
        return {}
    otherwise = ("is not used for camera {}, the shipped one is" if role == "blended"
                 else "is not scored as camera {}'s shadow")
    out = {}
    for camera, folder in folders.items():
        try:
            head = _refitted(folder)
        except ModelError as exc:
            log.warning("a re-fitted default head %s: %s", otherwise.format(camera), exc)
            continue
        fitting = _reading(head, models, otherwise.format(camera))
        if fitting is not None:
            out[camera] = fitting
    return out


def why_not_reading(head: FeatureHead, models: Sequence[Model]) -> str | None:
    """Why ``head`` cannot read the features of loaded ``models`` (:func:`fits`, against the
    asset manifest the loader verifies files by); None if it can."""
    return fits(head, [m.spec for m in models], _manifest_sha256())


def _reading(head: FeatureHead, models: Sequence[Model], otherwise: str) -> FeatureHead | None:
    """``head`` if it can read ``models``' features, else None with a warning."""
    why = why_not_reading(head, models)
    if why is not None:
        log.warning("the default head %s %s: %s", head.name, otherwise, why)
        return None
    return head


def heads_in_use(cfg: ModelsConfig) -> dict[str, Any]:
    """The default head blended with the zero-shot models, each camera's re-fit of it blended
    in its place and each camera's re-fit waiting as its shadow, as ``cfg`` (the configuration
    with the model registry's changes) names them: name, folder (None: the shipped one) and
    the lights it counts in, how many crops its scene gate holds (``scene_crops``: a re-fit
    decides near them only; None without a gate), and why it does not load (``error``, None
    when it does); the default head None when it is off (and then no camera has one). For
    ``models list``, ``learn status``, ``doctor`` and the web page. And the second look
    (``classifier/second_look.py``; None when it or the default head is off), described alike
    with the lower end of its band (``undecided_from``)."""
    if not cfg.default_head:
        return {"default_head": None, "second_look": None, "camera_heads": {},
                "camera_head_shadows": {}}

    def described(folder: str | None,
                  shipped: Callable[[], FeatureHead] = shipped_head) -> dict[str, Any]:
        try:
            head = load_feature_head(Path(folder)) if folder else shipped()
        except ModelError as exc:
            return {"name": f"? ({exc})", "folder": folder, "lights": [], "scene_crops": None,
                    "error": str(exc)}
        gated = head.head.gate if isinstance(head.head, GatedHead) else None
        out: dict[str, Any] = {
            "name": head.name, "folder": folder,
            "lights": [str(r) for r in head.info.operating_points],
            "scene_crops": None if gated is None else len(gated.anchors), "error": None}
        if head.info.undecided_from is not None:
            out["undecided_from"] = head.info.undecided_from
        return out

    # The module's SECOND_LOOK_DIR at call time (a test points it elsewhere).
    second_look = (described(None, lambda: load_feature_head(SECOND_LOOK_DIR))
                   if cfg.second_look else None)
    return {"default_head": described(None), "second_look": second_look,
            "camera_heads": {c: described(f) for c, f in cfg.camera_heads.items()},
            "camera_head_shadows": {c: described(f) for c, f in cfg.camera_head_shadows.items()}}
