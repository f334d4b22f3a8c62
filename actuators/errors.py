"""Errors of the deterrents; each also inherits the builtin it resembles."""

from __future__ import annotations


class DeterrentError(Exception):
    """The root of every deterrent error."""


class DeterrentSetupError(DeterrentError, RuntimeError):
    """A deterrent could not be set up on its pin (a wrong or busy pin, no GPIO here)."""


class UnknownPinFactory(DeterrentError, ValueError):
    """``gpio.pin_factory`` names no factory we know."""
