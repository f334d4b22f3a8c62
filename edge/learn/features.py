"""What a re-fit reads of each crop: the head's features and the zero-shot models' scores, kept.

Every crop is embedded once by the base head's extractor; the held-out ones are also scored by
the zero-shot models (a blending head is judged blended, as it decides). Both are kept in one
``.npz`` per extractor (``<state_dir>/learn/features-<sha256[:12]>.npz``), by crop file, so a
nightly re-fit only pays for the crops that arrived since the last one: on a Pi Zero 2 W, a
crop costs the extractor's and two classifiers' inference, well over 100 ms.

Example::

    cache = FeatureCache(state_dir / "learn", extractor.ref.sha256)
    features, partner = cache.embed(examples, extractor, zero_shot)   # partner NaN when fitted
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from classifier import Classifier
from edge.events.archive import write_atomic
from edge.learn.examples import Example

log = logging.getLogger(__name__)


class _Ref(Protocol):
    @property
    def outputs(self) -> int: ...


class Embeds(Protocol):
    """What embeds a crop: a package's extractor (:class:`classifier.embeddings.Extractor`) or
    the default head's source models (:class:`edge.learn.default.PoolExtractor`)."""

    @property
    def ref(self) -> _Ref: ...

    def embed(self, rgb: np.ndarray) -> tuple[np.ndarray, float]: ...


class FeatureCache:
    """Features and zero-shot scores of crop files, for one extractor."""

    def __init__(self, folder: Path, extractor_sha256: str) -> None:
        self.path = Path(folder) / f"features-{extractor_sha256[:12]}.npz"
        self._known: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                for key, f, p in zip(npz["keys"], npz["features"], npz["partner"], strict=True):
                    self._known[str(key)] = (f, p)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable, the crops are embedded again: %s", self.path, exc)

    def embed(self, examples: Sequence[Example], extractor: Embeds,
              zero_shot: Classifier | None) -> tuple[np.ndarray, np.ndarray]:
        """Features (N, D) of every example and the zero-shot predator and chicken scores
        (N, 2) of the held-out ones (NaN for the others, or without ``zero_shot``)."""
        features = np.zeros((len(examples), extractor.ref.outputs), dtype=np.float32)
        partner = np.full((len(examples), 2), np.nan)
        for i, e in enumerate(examples):
            key = str(e.path)
            known = self._known.get(key)
            wants_partner = e.held_out and zero_shot is not None
            if known is None or (wants_partner and np.isnan(known[1]).any()):
                rgb = e.load()
                f = known[0] if known is not None else extractor.embed(rgb)[0].copy()
                p = np.full(2, np.nan)
                if wants_partner:
                    assert zero_shot is not None
                    answer = zero_shot.classify(rgb)
                    p = np.array([answer.predator_score, answer.chicken_score])
                known = self._known[key] = (f, p)
            features[i], partner[i] = known
        # Forget crops that are gone (a slot replaced its oldest; retention removed an event).
        keep = {str(e.path) for e in examples}
        self._known = {k: v for k, v in self._known.items() if k in keep}
        return features, partner

    def save(self) -> None:
        """Write the cache atomically (a cut write leaves the previous one)."""
        keys = sorted(self._known)
        d = next(iter(self._known.values()))[0].size if keys else 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=np.array(keys, dtype=np.str_),
                 features=np.array([self._known[k][0] for k in keys],
                                   dtype=np.float32).reshape(len(keys), d),
                 partner=np.array([self._known[k][1] for k in keys]).reshape(len(keys), 2))
        write_atomic(self.path, tmp.read_bytes())
        os.unlink(tmp)
