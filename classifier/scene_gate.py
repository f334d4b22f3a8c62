"""A re-fitted head that decides only near the crops it was re-fitted on.

A camera's re-fit (``edge.learn``) learns that its own empty scenes are empty, and that its
owner's few labelled hens are hens. Far from those crops nothing was learnt, but the re-fitted
weights still answer there, and not always as the head they started from did: leave one camera
out, a re-fit on a feeder field's or a trail camera's empty scenes lost 1 of 44 test predators
(frames of other cameras, unlike anything it was fitted on) whatever its pull towards the
base, the bias or the predator column held, or prototypes of the base's training set beside it
(README, "Measured: leave one camera out").

So the re-fit is gated by its own scene: a crop whose features are as close to the fitted
crops as those crops are to each other (:data:`COVERAGE` of them have their neighbours that
close) is decided by the re-fit; any other crop by the head it was re-fitted from, exactly as
before the re-fit. Closeness is the mean cosine similarity of standardised features (the heads'
own standardisation) to the :data:`NEIGHBOURS` nearest fitted crops: one odd fitted crop does
not stretch the scene on its own; and never less than :data:`FLOOR`, however few and unlike
the fitted crops are. The gate keeps the fitted crops' features (float16, 5 kB
each) and costs one matrix-vector product per crop (N x 2560 multiply-adds; a millisecond for
1000 crops).

Saved beside the re-fitted head as a ``.npz`` of arrays only (``allow_pickle=False``): the
fitted crops' unit features, the similarity, the neighbours counted, and the base head's
weights and bias (the re-fit shares its base's classes and standardisation).

Example::

    gated = GatedHead.around(base, refit, fitted_features)
    probs = gated.probabilities(features)   # the re-fit's rows near its scene, base's elsewhere
    probs, near = gated.decide(features)    # and which rows the re-fit decided
    path.write_bytes(gated.gate_bytes()); gated = GatedHead.load(refit, path)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifier.errors import ModelError
from classifier.head import SoftmaxHead

_FORMAT = 1
# The gate's file, beside the re-fitted head's in its folder (a default head's or a package's).
GATE_FILE = "gate.npz"
# The share of the fitted crops whose nearest fitted crops are at least as close as the gate's
# similarity, and how many nearest count. Chosen leave one camera out (README), where what is
# at stake is 1 of 44 test predators on the feeder field, the camera whose scenes vary most
# (its gate is the widest): with 3 neighbours, 0.9 kept it for both starts (a re-fit of the
# shipped default head, and of a head the owner trained), 0.95 and 0.98 lost it for the
# latter, 1.0 for the former; with the single nearest, 0.98 lost it for both. A lower share
# keeps more of the false alarms the re-fit removes (0.8, single nearest: all 6 of the trail
# camera's); 0.9 sits between the two. The mean of a few neighbours also keeps one odd fitted
# crop from stretching the scene on its own.
COVERAGE = 0.9
NEIGHBOURS = 3
# The least similarity a gate asks, however few and unlike its crops. Standardised features are
# centred on the training set's mean, so unrelated scenes come out nearly orthogonal: between
# three cameras' empty frames the mean similarity to the 3 nearest was at most 0.29, predator
# photos to the nest box's crops at most 0.23, while the gates leave one camera out were 0.39
# to 0.82. Without it, 6 unlike frames of a trail camera (day and IR) made a gate of 0.03 that
# took in 18 of 26 nest-box frames (README).
FLOOR = 0.3


def layer_of(head: SoftmaxHead | GatedHead) -> SoftmaxHead:
    """The softmax layer of ``head`` (a gated re-fit's own, without its gate): what a re-fit
    starts from."""
    return head.refit if isinstance(head, GatedHead) else head


def unit_rows(standardised: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity is then a dot product)."""
    x = np.asarray(standardised, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True, slots=True)
class SceneGate:
    """The crops a re-fit was fitted on (unit rows of standardised features), how many of the
    nearest count, and how close they must be on average for a crop to be of their scene."""

    anchors: np.ndarray
    similarity: float
    neighbours: int

    @classmethod
    def of(cls, standardised: np.ndarray, coverage: float = COVERAGE,
           neighbours: int = NEIGHBOURS) -> SceneGate:
        """The gate of fitted crops' standardised features (N, D): its similarity is the
        ``1 - coverage`` quantile of each crop's mean similarity to its ``neighbours`` nearest
        other crops (fewer when there are fewer), at least :data:`FLOOR`. One crop is no
        scene: its gate admits nothing (similarity above any cosine)."""
        # Rounded as the file keeps them (float16), so that the gate judged before it is
        # written is the gate that decides once loaded, to the bit.
        anchors = unit_rows(standardised).astype(np.float16).astype(np.float32)
        k = max(1, min(neighbours, len(anchors) - 1))
        if len(anchors) < 2:
            return cls(anchors, 2.0, k)
        similar = anchors @ anchors.T
        np.fill_diagonal(similar, -np.inf)
        spread = float(np.quantile(_nearest_mean(similar, k), 1.0 - coverage))
        return cls(anchors, max(spread, FLOOR), k)

    def near(self, standardised: np.ndarray) -> np.ndarray:
        """Per row of standardised features (N, D): whether it is within the gate's scene."""
        if len(self.anchors) == 0:
            return np.zeros(len(standardised), dtype=bool)
        similar = unit_rows(standardised) @ self.anchors.T
        return _nearest_mean(similar, min(self.neighbours, len(self.anchors))) >= self.similarity


def _nearest_mean(similar: np.ndarray, k: int) -> np.ndarray:
    """Per row, the mean of its ``k`` largest similarities."""
    return np.partition(similar, -k, axis=1)[:, -k:].mean(axis=1)


@dataclass(frozen=True, slots=True)
class GatedHead:
    """A re-fitted head that decides near its scene, and its base everywhere else. Used where
    a :class:`~classifier.head.SoftmaxHead` is (``classes``, ``inputs``, ``probabilities``)."""

    refit: SoftmaxHead
    base: SoftmaxHead
    gate: SceneGate

    @classmethod
    def around(cls, base: SoftmaxHead, refit: SoftmaxHead, fitted: np.ndarray) -> GatedHead:
        """``refit`` (re-fitted from ``base`` on features ``fitted``), gated by those crops."""
        return cls(refit, base, SceneGate.of(refit.standardised(fitted)))

    @property
    def classes(self) -> tuple[str, ...]:
        """The heads' classes."""
        return self.refit.classes

    @property
    def inputs(self) -> int:
        """The feature vector length the heads take."""
        return self.refit.inputs

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Shape (N, classes): the re-fit's rows where a crop is near its scene, the base's
        elsewhere."""
        return self.decide(features)[0]

    def decide(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`probabilities`, and per row whether the re-fit decided it (the crop was
        within its scene) rather than the base: shapes (N, classes) and (N,)."""
        near = self.gate.near(self.refit.standardised(features))
        return (np.where(near[:, None], self.refit.probabilities(features),
                         self.base.probabilities(features)), near)

    def gate_bytes(self) -> bytes:
        """The gate and the base head's weights as ``.npz`` bytes (arrays only)."""
        out = io.BytesIO()
        np.savez(out, format=np.array(_FORMAT), anchors=self.gate.anchors.astype(np.float16),
                 similarity=np.array(self.gate.similarity),
                 neighbours=np.array(self.gate.neighbours), base_weights=self.base.weights,
                 base_bias=self.base.bias)
        return out.getvalue()

    @classmethod
    def load(cls, refit: SoftmaxHead, path: Path) -> GatedHead:
        """``refit`` gated by the gate file ``path`` (:meth:`gate_bytes`); ModelError naming
        the file when it is unreadable or does not fit ``refit``."""
        try:
            with np.load(Path(path), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ModelError(f"{path}: not a scene gate file (.npz): {exc}") from None
        missing = ({"format", "anchors", "similarity", "neighbours", "base_weights", "base_bias"}
                   - set(arrays))
        if missing:
            raise ModelError(f"{path}: the scene gate lacks {', '.join(sorted(missing))}")
        if int(arrays["format"]) != _FORMAT:
            raise ModelError(f"{path}: scene gate format {int(arrays['format'])}, "
                             f"expected {_FORMAT}")
        anchors, weights = arrays["anchors"], arrays["base_weights"]
        if (anchors.ndim != 2 or anchors.shape[1] != refit.inputs
                or weights.shape != refit.weights.shape
                or arrays["base_bias"].shape != refit.bias.shape):
            raise ModelError(f"{path}: the scene gate's array shapes do not fit the head "
                             f"({refit.inputs} features, {len(refit.classes)} classes)")
        base = SoftmaxHead(refit.classes, refit.mean, refit.scale, weights.astype(np.float32),
                           arrays["base_bias"].astype(np.float32))
        return cls(refit, base, SceneGate(anchors.astype(np.float32),
                                          float(arrays["similarity"]),
                                          max(1, int(arrays["neighbours"]))))
