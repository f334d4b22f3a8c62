"""The error of learning a camera: one message that says what is missing or wrong."""

from __future__ import annotations


class LearnError(RuntimeError):
    """A re-fit or judgement that cannot be made, and why."""
