"""A small softmax layer over embeddings: the part of a model trained on this coop's own photos.

Plain NumPy, no new dependency: a multinomial logistic regression with an L2 penalty, fitted by
Nesterov's accelerated gradient with the step set from the problem's own Lipschitz bound (so it
needs no learning-rate tuning and always converges). Features are standardised with the training
set's mean and spread; both are kept in the head, so prediction is one multiply-add and a softmax
(a few microseconds beside the extractor's milliseconds).

Saved as a ``.npz`` without pickles (``allow_pickle=False`` on load): arrays only, so a head file
cannot run code.

Example::

    head = fit_head(features, targets, ("background", "chicken", "predator"), HeadSettings())
    probs = head.probabilities(features[:1])        # shape (1, 3), rows sum to 1
    head.save(path); head = SoftmaxHead.load(path)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifier.errors import ModelError

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class HeadSettings:
    """How a head is fitted."""

    l2: float = 0.005
    iterations: int = 400
    balanced: bool = True


@dataclass(frozen=True, slots=True)
class SoftmaxHead:
    """Standardise, multiply-add, softmax. ``classes[i]`` is the label of output ``i``."""

    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    @property
    def inputs(self) -> int:
        """The feature vector length the head takes."""
        return int(self.weights.shape[0])

    def standardised(self, features: np.ndarray) -> np.ndarray:
        """Features of shape (N, inputs) or (inputs,) as the head sees them, shape (N, inputs):
        less the training mean, over the training spread."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float32))
        if x.shape[1] != self.inputs:
            raise ValueError(f"the head takes {self.inputs} features, got {x.shape[1]}")
        return (x - self.mean) / self.scale

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Raw scores, shape (N, classes), for features of shape (N, inputs) or (inputs,)."""
        return self.standardised(features) @ self.weights + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax of :meth:`logits`, shape (N, classes)."""
        return softmax(self.logits(features))

    def to_bytes(self) -> bytes:
        """The head as ``.npz`` bytes (arrays only)."""
        out = io.BytesIO()
        np.savez(
            out, format=np.array(_FORMAT), classes=np.array(self.classes, dtype=np.str_),
            mean=self.mean, scale=self.scale, weights=self.weights, bias=self.bias,
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, origin: str = "head") -> SoftmaxHead:
        """A head from :meth:`to_bytes` output; ModelError naming ``origin`` if malformed."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ModelError(f"{origin}: not a head file (.npz): {exc}") from None
        return _checked(arrays, origin)

    @classmethod
    def load(cls, path: Path) -> SoftmaxHead:
        """Read a head file; ModelError naming the file if it is missing or malformed."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the head: {exc.strerror or exc}") from None
        return cls.from_bytes(data, str(path))


def _checked(arrays: dict[str, np.ndarray], origin: str) -> SoftmaxHead:
    missing = {"format", "classes", "mean", "scale", "weights", "bias"} - set(arrays)
    if missing:
        raise ModelError(f"{origin}: the head lacks {', '.join(sorted(missing))}")
    if int(arrays["format"]) != _FORMAT:
        raise ModelError(f"{origin}: head format {int(arrays['format'])}, expected {_FORMAT}")
    w = arrays["weights"].astype(np.float32)
    classes = tuple(str(c) for c in arrays["classes"])
    d, k = w.shape if w.ndim == 2 else (0, 0)
    shapes_ok = (
        w.ndim == 2 and k == len(classes) and arrays["bias"].shape == (k,)
        and arrays["mean"].shape == (d,) and arrays["scale"].shape == (d,)
    )
    if not shapes_ok:
        raise ModelError(f"{origin}: the head's array shapes do not agree with each other")
    return SoftmaxHead(
        classes, arrays["mean"].astype(np.float32), arrays["scale"].astype(np.float32),
        w, arrays["bias"].astype(np.float32),
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def balanced_weights(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-sample weights that give every present class the same total weight (mean 1)."""
    counts = np.bincount(targets, minlength=n_classes).astype(np.float64)
    present = counts > 0
    per_class = np.zeros(n_classes)
    per_class[present] = len(targets) / (present.sum() * counts[present])
    return per_class[targets]


def fit_head(
    features: np.ndarray, targets: np.ndarray, classes: tuple[str, ...],
    settings: HeadSettings | None = None, sample_weight: np.ndarray | None = None,
    prior: SoftmaxHead | None = None,
) -> SoftmaxHead:
    """Fit a softmax head to ``features`` (N, D) and integer ``targets`` (N,) in ``classes``.

    With ``prior`` (a head of the same classes and inputs), the fit starts from its weights and
    its penalty pulls towards them instead of towards zero (``settings.l2`` times the squared
    distance, bias included): a head that learns a few new pictures (one camera's empty scenes)
    without forgetting what ``prior`` knew from the pictures it was trained on, which are not
    at hand. The prior's standardisation is kept, so its weights mean the same here.
    """
    settings = settings or HeadSettings()
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.intp)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"need features (N, D) and N targets, got {x.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= len(classes):
        raise ValueError(f"targets must be 0..{len(classes) - 1}")
    if prior is not None and (prior.classes != tuple(classes) or prior.inputs != x.shape[1]):
        raise ValueError(f"the prior head has classes {prior.classes} and {prior.inputs} "
                         f"inputs, not {tuple(classes)} and {x.shape[1]}")
    if prior is not None:
        mean, scale = prior.mean.astype(np.float64), prior.scale.astype(np.float64)
    else:
        mean = x.mean(axis=0)
        # A feature that never varies gets scale 1, not 0: it then contributes nothing.
        scale = np.where(x.std(axis=0) > 1e-6, x.std(axis=0), 1.0)
    # float32 for the iterations: twice the speed of float64, and ample for a convex fit.
    xs = ((x - mean) / scale).astype(np.float32)
    weight = balanced_weights(y, len(classes)) if settings.balanced else np.ones(len(y))
    if sample_weight is not None:
        weight = weight * sample_weight
    start = None if prior is None else np.vstack([prior.weights, prior.bias[None, :]])
    w, b = _nesterov(xs, y, (weight / weight.mean()).astype(np.float32), len(classes), settings,
                     start)
    return SoftmaxHead(
        classes, mean.astype(np.float32), scale.astype(np.float32),
        w.astype(np.float32), b.astype(np.float32),
    )


def _nesterov(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, k: int, settings: HeadSettings,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise mean weighted cross-entropy + l2/2 |W|^2 by accelerated gradient descent; with
    ``start`` ((d+1, k): weights over bias), from there and + l2/2 |theta - start|^2 instead."""
    n, d = x.shape
    onehot = np.eye(k, dtype=np.float32)[y]
    xb = np.hstack([x, np.ones((n, 1), dtype=np.float32)])
    # Softmax cross-entropy has curvature at most 1/2 per sample; times the largest eigenvalue
    # of the weighted Gram matrix, plus the penalty, bounds the gradient's Lipschitz constant.
    gram_top = _top_eigenvalue(xb * np.sqrt(weight)[:, None] / np.sqrt(n))
    step = np.float32(1.0 / (0.5 * gram_top + settings.l2))
    l2 = np.float32(settings.l2)
    anchor = np.zeros((d + 1, k), dtype=np.float32) if start is None else start.astype(
        np.float32)
    theta = anchor.copy()
    previous = theta.copy()
    penalty = np.ones((d + 1, 1), dtype=np.float32)
    # From zero the bias is free; from a prior it is held too, or a camera that only ever
    # shows empty scenes would raise the background bias until nothing else is ever said.
    penalty[-1] = 0.0 if start is None else 1.0
    for t in range(1, settings.iterations + 1):
        look = theta + np.float32((t - 1) / (t + 2)) * (theta - previous)
        residual = (softmax(xb @ look) - onehot) * weight[:, None]
        gradient = xb.T @ residual / np.float32(n) + l2 * penalty * (look - anchor)
        previous, theta = theta, look - step * gradient
    return theta[:-1], theta[-1]


def _top_eigenvalue(a: np.ndarray, rounds: int = 30) -> float:
    """The largest eigenvalue of ``a.T @ a``, by power iteration (cheap and sufficient here)."""
    v: np.ndarray = np.random.default_rng(0).standard_normal((a.shape[1],))
    value = 1.0
    for _ in range(rounds):
        u = a.T @ (a @ v)
        value = float(np.linalg.norm(u))
        if value == 0.0:
            return 1.0
        v = u / value
    return value * 1.05  # a small margin: power iteration approaches from below
