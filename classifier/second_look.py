"""The second look: a third network, asked only about the crops the default head leaves undecided.

The default head (``classifier/feature_head.py``) reads the features the two zero-shot MobileNet
v2s already compute, so it costs nothing; but on pictures from cameras it never saw, those
features are what limits it. The MobileNet v1 embedding extractor's 1024 numbers beside them
find more predators (held out by camera, recall 0.837 → 0.861, under IR 0.525 → 0.575;
``scripts/measure_second_look.py``), but running it on every crop would cost 1.7x the inference.
So it runs only when the blended predator score lies in the undecided band, from the second
look's ``undecided_from`` up to the threshold: there its head (trained on all 3584 numbers,
``scripts/build_default_head.py --second-look``) decides in the default head's place. Held out
by camera that band holds about 6 % of the predators and 3 % of the hens.

The head ships under ``classifier/data/second_look/`` in the default head's format (its
``head.yaml`` names the extractor as its third source, and the band).

Example::

    look = load_second_look(store)
    if look.undecided(answer.predator_score, threshold=0.5):
        embedding, invoke_ms = look.embed(rgb)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifier.assets import AssetFiles
from classifier.embeddings import Extractor, load_extractor
from classifier.errors import ModelError
from classifier.feature_head import (
    SECOND_LOOK_DIR,
    FeatureHead,
    load_feature_head,
    why_not_reading,
)
from classifier.model import Model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecondLook:
    """A loaded second look: its head and the extractor whose numbers its head reads last."""

    head: FeatureHead
    extractor: Extractor

    @property
    def undecided_from(self) -> float:
        """The lower end of the band it is asked about."""
        assert self.head.info.undecided_from is not None
        return self.head.info.undecided_from

    def undecided(self, predator_score: float, threshold: float) -> bool:
        """Whether a crop the default head scored ``predator_score`` is the second look's: from
        :attr:`undecided_from` up to (not including) the predator ``threshold``."""
        return self.undecided_from <= predator_score < threshold

    def embed(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The extractor's numbers for one RGB crop and the ms of its bare ``invoke()``."""
        return self.extractor.embed(rgb)


def load_second_look(store: AssetFiles, threads: int = 2, folder: Path | None = None
                     ) -> SecondLook:
    """The second look in ``folder`` (the shipped one, :data:`SECOND_LOOK_DIR`, by default) and
    its extractor, each file checked by sha256; ModelError if it is not a second look or its
    extractor is another file than it was trained on."""
    folder = folder if folder is not None else SECOND_LOOK_DIR
    head = load_feature_head(folder)
    if head.info.undecided_from is None:
        raise ModelError(f"{folder}: a head without undecided_from is not a second look")
    extractor = load_extractor(store, threads)
    source = head.info.sources[-1]
    ref = extractor.ref
    if (source.model, source.file, source.sha256, source.size) != (
            ref.model, ref.file, ref.sha256, ref.outputs):
        raise ModelError(f"{folder}: trained on extractor {source.model} ({source.file}, sha256 "
                         f"{source.sha256}), not on {ref.model} ({ref.file}, sha256 {ref.sha256})")
    return SecondLook(head, extractor)


def try_load_second_look(store: AssetFiles, threads: int = 2) -> SecondLook | None:
    """:func:`load_second_look`, or None with a warning naming the problem: without it the
    default head decides every crop, as before the second look existed."""
    try:
        return load_second_look(store, threads)
    except ModelError as exc:
        log.warning("the second look is not used: %s", exc)
        return None


def fitting(look: SecondLook | None, models: Sequence[Model]) -> SecondLook | None:
    """``look`` if it can read ``models``' features besides its extractor's (the same sources
    as the default head), else None with a warning: the default head then decides alone."""
    if look is None:
        return None
    # The head's other sources are the default head's: checked as fits() checks those.
    probe = look.head.info.model_copy(update={"sources": look.head.info.sources[:-1]})
    why = why_not_reading(FeatureHead(probe, look.head.head), models)
    if why is not None:
        log.warning("the second look %s is not used: %s", look.head.name, why)
        return None
    return look
