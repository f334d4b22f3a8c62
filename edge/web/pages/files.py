"""Files: the assets shipped in the package, and archived pictures (from the archive only).

An archived file is named by the three parts the archive writes (``YYYY-MM-DD``, the event's
folder, the file's name), each checked against what the archive can have written, and the
resolved path must still lie under the archive: ``..``, an absolute path, a symlink out or an
encoded slash never reaches another file. A model input saved as ``.npy`` (not uint8) is shown as
a PNG of its values scaled to 0..255.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from edge.events.archive import PART, load_exact
from edge.web.context import WebContext
from edge.web.http import HttpError, Request, Response, Router

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}
ARCHIVE_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".npy": "image/png",
                 ".mp4": "video/mp4", ".avi": "video/x-msvideo"}
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
ARCHIVE_ROUTE = (r"/archive/(?P<day>\d{4}-\d{2}-\d{2})/(?P<folder>[A-Za-z0-9_.~-]+)/"
                 r"(?P<name>[^/]+)")
DAY_S = 86400


def register(router: Router, ctx: WebContext) -> None:
    """Add the routes."""
    router.add("GET", r"/static/(?P<name>[a-z]+\.[a-z]+)", static)
    router.add("GET", ARCHIVE_ROUTE, lambda req, **parts: archived(ctx, **parts))


def static(req: Request, name: str) -> Response:
    """A file shipped in ``edge/web/static``."""
    kind = STATIC_TYPES.get(Path(name).suffix)
    item = resources.files("edge.web").joinpath("static", name)
    if kind is None or not item.is_file():
        raise HttpError(404, f"no asset {name}")
    return Response(item.read_bytes(), content_type=kind, cache_s=3600)


def archive_url(ctx: WebContext, path: str | Path | None) -> str | None:
    """The page's address of an archived file, or None when the file is not in the archive."""
    if not path:
        return None
    try:
        rel = Path(path).relative_to(ctx.archive_root)
    except ValueError:
        return None
    return "/archive/" + rel.as_posix() if len(rel.parts) == 3 else None


def archived_path(root: Path, day: str, folder: str, name: str) -> Path:
    """The archived file ``day/folder/name`` under ``root``; HttpError 404 for anything else."""
    suffix = Path(name).suffix.lower()
    if (not _FILE.fullmatch(name) or name.endswith(PART) or suffix not in ARCHIVE_TYPES
            or folder in (".", "..")):
        raise HttpError(404, f"no archived file {name!r}")
    base = root.resolve()
    path = (base / day / folder / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise HttpError(404, f"no archived file {day}/{folder}/{name}")
    return path


def archived(ctx: WebContext, day: str, folder: str, name: str) -> Response:
    """An archived snapshot or model input."""
    path = archived_path(ctx.archive_root, day, folder, name)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return Response(_npy_as_png(path), content_type="image/png", cache_s=DAY_S)
    return Response(path.read_bytes(), content_type=ARCHIVE_TYPES[suffix], cache_s=DAY_S)


def _npy_as_png(path: Path) -> bytes:
    values = load_exact(path).astype(np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low or 1.0) * 255.0
    rgb = scaled.astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    if not ok:
        raise HttpError(500, f"{path.name}: cannot show it as a picture")
    return buf.tobytes()
