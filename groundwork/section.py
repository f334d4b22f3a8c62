"""The base every configuration section derives from, in whichever package owns the section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A strict, immutable configuration section: unknown keys are errors, values are checked.

    Config models do no I/O: they describe and validate; the code that uses them opens files.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
