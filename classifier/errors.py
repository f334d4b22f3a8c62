"""The errors the classifier raises; each names the file and what is wrong with it."""

from __future__ import annotations


class ClassifierError(Exception):
    """Root of every classifier error."""


class ModelError(ClassifierError, ValueError):
    """A model, its labels or its verdict map that cannot be used as the manifest declares."""


class UnknownModelError(ModelError):
    """A model asked for by a name the manifest does not have, or not as a classifier: the
    asker's mistake, which no retry mends."""


class ImageError(ClassifierError, ValueError):
    """An image file that cannot be read as a picture."""
