"""Which of a model's labels mean chicken, which mean predator; every other label is background.

Each model has its own map in ``models/verdicts/<name>.yaml``, written as reviewed data: top-level
keys ``chicken`` and ``predator``, each a mapping of group name (with a comment saying why) to the
exact lines of the model's labels file. A generalist model may also list ``birds``: bird labels
that are neither chicken nor predator, which a bird specialist model refines (see
``classifier/ensemble.py``); alone they count as background. A label that is not in the labels
file is an error, so a typo cannot silently drop a predator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from classifier.errors import ModelError
from classifier.spec import models_dir
from classifier.verdict import Verdict

_SCORED = (Verdict.CHICKEN, Verdict.PREDATOR)
_SECTIONS = ("chicken", "predator", "birds")


@dataclass(frozen=True, slots=True)
class VerdictMap:
    """Output indices of the chicken, predator and other-bird labels; each listed label's group."""

    chicken: np.ndarray
    predator: np.ndarray
    birds: np.ndarray
    groups: dict[str, str]

    def verdict_of(self, label: str) -> Verdict:
        """The verdict a single label stands for on its own (a bird alone is background)."""
        section = self.groups.get(label, "background").split("/")[0]
        return Verdict(section) if section in ("chicken", "predator") else Verdict.BACKGROUND


def verdicts_dir() -> Path:
    """The shipped folder of verdict maps."""
    return models_dir() / "verdicts"


def read_groups(path: Path) -> dict[str, dict[str, list[str]]]:
    """The raw groups of a verdict map file; ModelError naming the file if malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"{path}: cannot read the verdict map: {exc}") from None
    if not isinstance(data, dict) or set(data) - set(_SECTIONS):
        raise ModelError(f"{path}: a verdict map has only {', '.join(_SECTIONS)} mappings")
    groups: dict[str, dict[str, list[str]]] = {}
    for name in _SECTIONS:
        section = data.get(name) or {}
        if not isinstance(section, dict) or not all(isinstance(v, list) for v in section.values()):
            raise ModelError(f"{path}: '{name}' must map group names to lists of labels")
        groups[name] = {str(k): [str(label) for label in v] for k, v in section.items()}
    return groups


def load_verdict_map(path: Path, labels: Sequence[str], label_offset: int = 0) -> VerdictMap:
    """The map in ``path`` resolved against ``labels`` (output index = line + ``label_offset``)."""
    index = {label: i + label_offset for i, label in enumerate(labels)}
    found: dict[str, list[int]] = {s: [] for s in _SECTIONS}
    owner: dict[str, str] = {}
    for section, groups in read_groups(path).items():
        for group, names in groups.items():
            for name in names:
                if name not in index:
                    raise ModelError(
                        f"{path}: {section}.{group}: {name!r} is not a label of the model"
                    )
                if name in owner:
                    raise ModelError(
                        f"{path}: {name!r} is listed twice ({owner[name]} and {section}/{group})"
                    )
                owner[name] = f"{section}/{group}"
                found[section].append(index[name])
    arrays = {s: np.array(sorted(found[s]), dtype=np.intp) for s in _SECTIONS}
    return VerdictMap(**arrays, groups=owner)
