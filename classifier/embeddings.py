"""The embedding extractor: a MobileNet without its classification layer, 1024 numbers per picture.

A head trained on this coop's own photos (``classifier/head.py``) reads these numbers instead of
pixels, so training is a few seconds of NumPy instead of TensorFlow. The extractor is an ordinary
manifest model (``kind: embedding``), loaded and checked by :func:`classifier.loader.load_model`
like every other model: its file's sha256 is verified against the asset manifest at each load.

Example::

    extractor = load_extractor(store, threads=2)
    features, invoke_ms = extractor.embed(rgb)          # float32, shape (1024,)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from classifier.assets import AssetFiles
from classifier.errors import ModelError
from classifier.loader import load_model
from classifier.model import InputPreparer, TFLiteModel
from classifier.spec import ModelSpec, load_specs

log = logging.getLogger(__name__)

# The manifest's only embedding model today; a package records whichever one it was trained on.
DEFAULT_EXTRACTOR = "mobilenet_v1_embedding"


@dataclass(frozen=True, slots=True)
class ExtractorRef:
    """Which extractor a head was trained on: manifest model name, asset file and its sha256."""

    model: str
    file: str
    sha256: str
    outputs: int


class Extractor:
    """A loaded, checked embedding model. ``embed`` is thread-safe (the model has its lock)."""

    def __init__(self, model: TFLiteModel, ref: ExtractorRef) -> None:
        self.model = model
        self.ref = ref

    @property
    def prepare(self) -> InputPreparer:
        """The extractor's input preparation (its ``side`` is the crop side it wants)."""
        return self.model.prepare

    @property
    def load_ms(self) -> float:
        """Milliseconds it took to create the interpreter."""
        return self.model.load_ms

    def embed(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The feature vector of one RGB picture (float32) and the ms of the bare ``invoke()``."""
        features, invoke_ms = self.model.probabilities(rgb)
        return features.astype(np.float32, copy=False), invoke_ms


def extractor_spec(name: str, specs: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """The manifest entry of embedding model ``name``; ModelError if it is not one."""
    specs = specs if specs is not None else load_specs()
    spec = specs.get(name)
    if spec is None:
        raise ModelError(f"embedding model {name!r} is not in the model manifest")
    if spec.kind != "embedding" or spec.outputs is None:
        raise ModelError(f"model {name!r} is a {spec.kind} model, not an embedding extractor")
    return spec


def extractor_ref(
    store: AssetFiles, name: str = DEFAULT_EXTRACTOR, specs: dict[str, ModelSpec] | None = None
) -> ExtractorRef:
    """What the manifest says extractor ``name`` is (no file is read, unless its sha256 is
    known only once its git blob id has been verified)."""
    spec = extractor_spec(name, specs)
    if spec.file not in store:
        raise ModelError(f"{spec.file}: not in the manifest's files: list")
    assert spec.outputs is not None  # checked by extractor_spec
    return ExtractorRef(model=name, file=spec.file, sha256=store.sha256(spec.file),
                        outputs=spec.outputs)


def load_extractor(
    store: AssetFiles, threads: int = 2, name: str = DEFAULT_EXTRACTOR,
    specs: dict[str, ModelSpec] | None = None,
) -> Extractor:
    """The checked extractor ``name``: file fetched if needed and verified by sha256."""
    spec = extractor_spec(name, specs)
    ref = extractor_ref(store, name, {name: spec})
    try:
        model = load_model(spec, store, threads)
    except ImportError as exc:
        raise ModelError(f"cannot load the embedding extractor: {exc}") from None
    return Extractor(model, ref)
