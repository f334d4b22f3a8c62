"""The ``models:`` section of ``models/manifest.yaml``: what each model file is declared to be.

The loader checks every real file against this declaration, so a wrong or damaged file fails at
load with a message, never later with a silently wrong verdict.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classifier.errors import ModelError

_CHECKOUT = Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    """The shipped ``models`` folder: ``manifest.yaml`` and the ``verdicts/`` maps.

    In a checkout (or an editable install) it sits beside the packages; a wheel install puts
    it under ``<prefix>/share/tensorchicken/models``.
    """
    beside = _CHECKOUT / "models"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "tensorchicken" / "models"


def manifest_path() -> Path:
    """The shipped model manifest: each file's address and sha256 (``files:``) and what each
    model is (``models:``)."""
    return models_dir() / "manifest.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """The input tensor as declared, and the pixel normalisation the network was trained with."""

    shape: tuple[int, int, int, int] = Field(description="1, height, width, channels")
    dtype: Literal["uint8", "int8", "float32"]
    mean: float = Field(127.5, description="pixel value that normalises to 0")
    std: float = Field(127.5, gt=0, description="pixel units per normalised unit")
    order: Literal["RGB", "BGR"] = Field("RGB", description="channel order the network expects")
    fit: Literal["pad", "crop"] = Field(
        "crop", description="how a non-square picture is made square: letterbox or centre-crop"
    )


class ModelSpec(_Strict):
    """One model of the manifest."""

    name: str
    kind: Literal["classifier", "embedding"] = "classifier"
    file: str = Field(description="asset name in files: (a .tflite, or a .tgz holding member)")
    member: str | None = Field(None, description="the .tflite inside an archive asset")
    member_sha256: str | None = None
    labels: str | None = Field(None, description="asset name of the labels file")
    verdicts: str | None = Field(None, description="verdict map file under models/verdicts/")
    version: str
    input: InputSpec
    quantised: bool
    refines: Literal["birds"] | None = Field(
        None, description="a specialist: it decides which bird the generalists' 'birds' labels are"
    )
    blend: float | None = Field(
        None, gt=0, le=1, description="a trained head: its weight when blended with the "
        "zero-shot models' answer (classifier/blend.py); only model packages set it")
    label_offset: int = Field(0, ge=0, description="output index of the first line of labels")
    features: str | None = Field(
        None, description="name of the network's pre-logits tensor (its global average pool), "
        "read after each invoke as the features of the default head (classifier/feature_head.py)")
    outputs: int | None = Field(None, description="output size, when there are no labels")
    licence: str
    description: str


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest's mapping; ModelError if it cannot be read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"{path}: cannot read the model manifest: {exc}") from None


def load_specs(path: Path | None = None) -> dict[str, ModelSpec]:
    """Every model of the manifest's ``models:`` section by name; ModelError naming the problem."""
    path = path or manifest_path()
    data = _read_manifest(path)
    section = data.get("models")
    if not isinstance(section, dict):
        raise ModelError(f"{path}: no 'models:' mapping of model name to description")
    specs = {}
    for name, body in section.items():
        try:
            specs[name] = ModelSpec.model_validate({"name": name, **(body or {})})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ModelError(f"{path}: models.{name}: {problems}") from None
    return specs


def declared_sha256(path: Path | None = None) -> dict[str, str]:
    """The sha256 each file of the manifest's ``files:`` section is declared to have, by file
    name (what the asset store verifies a copy by); files known only by a git blob id are left
    out. ModelError if the manifest cannot be read."""
    path = path or manifest_path()
    data = _read_manifest(path)
    return {f["name"]: f["sha256"] for f in data.get("files") or () if f.get("sha256")}


def declared_files(path: Path | None = None) -> frozenset[str]:
    """The name of every file of the manifest's ``files:`` section (models, labels and the
    demo's footage); ModelError if the manifest cannot be read."""
    data = _read_manifest(path or manifest_path())
    return frozenset(f["name"] for f in data.get("files") or () if f.get("name"))
