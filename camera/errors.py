"""The camera side's errors: one root, each also the builtin it resembles."""

from __future__ import annotations


class CameraError(Exception):
    """Root of every camera error, so the pipeline can catch them all in one place."""


class CameraOpenError(CameraError, OSError):
    """A source that cannot be opened: a missing device or file, a refused stream,
    picamera2 not installed."""


class SourceConfigError(CameraError, ValueError):
    """A camera configuration that cannot work (an address of the wrong kind, an image
    that is not one)."""


class BadFrameError(CameraError, ValueError):
    """A frame that cannot be used: undecodable, or of the wrong shape or type."""


class EndOfStream(CameraError, EOFError):
    """A non-looping file, folder or arrivals schedule has shown its last frame."""
