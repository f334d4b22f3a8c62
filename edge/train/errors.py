"""Errors of training: each names the file, the label or the setting that is wrong."""

from __future__ import annotations

from classifier.errors import ClassifierError


class TrainError(ClassifierError, ValueError):
    """Training data or settings that cannot make a model."""


class LabelError(TrainError):
    """A correction that cannot be recorded (unknown crop, unknown label, unreadable file)."""
