"""Which frame source a camera's configuration describes (``kind``: picamera2, opencv, replay,
arrivals), not yet opened.

Each kind's module is imported only when used: picamera2 cannot be imported without libcamera.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from camera.config import CameraConfig
from camera.errors import SourceConfigError
from camera.source import FrameSource


def open_source(cfg: CameraConfig, resolve: Callable[[str], str] = str) -> FrameSource:
    """The (not yet opened) source ``cfg`` describes.

    ``resolve`` turns an address such as ``asset:NAME`` into a local path (pass
    ``AssetStore.resolve``); it is called for ``cfg.address`` and each arrival image.
    """
    if cfg.kind == "picamera2":
        from camera.picamera2_source import Picamera2Source

        return Picamera2Source(cfg)
    if cfg.kind == "arrivals":
        from camera.replay import ArrivalsSource

        images = [resolve(a.image) for a in cfg.arrivals]
        return ArrivalsSource(cfg, resolve(cfg.address), images)
    address = resolve(cfg.address)
    if cfg.kind == "replay" and Path(address).is_dir():
        from camera.replay import PhotoFolderSource

        return PhotoFolderSource(cfg, address)
    from camera.opencv_source import OpenCVSource

    if cfg.kind == "replay" and not Path(address).is_file():
        raise SourceConfigError(f"camera {cfg.name}: replay address {address!r} is neither a "
                                "video file nor a folder of photos")
    return OpenCVSource(cfg, address)
