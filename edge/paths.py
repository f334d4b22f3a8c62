"""Where the appliance keeps things: assets and state (the shipped models folder is
``classifier.spec.models_dir``)."""

from __future__ import annotations

import os
from pathlib import Path


def _is_service() -> bool:
    # Run as root or by systemd (which sets STATE_DIRECTORY): use the system-wide places.
    return os.geteuid() == 0 or "STATE_DIRECTORY" in os.environ


def default_data_dir() -> Path:
    """Assets (models, labels, demo clip and photos): per user, or per system for the service."""
    if env := os.environ.get("TENSORCHICKEN_DATA_DIR"):
        return Path(env)
    if _is_service():
        return Path("/var/lib/tensorchicken/assets")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "tensorchicken"


def default_state_dir() -> Path:
    """The event log and the archive: systemd's StateDirectory, else per user."""
    if env := os.environ.get("STATE_DIRECTORY"):
        return Path(env.split(":")[0])
    if env := os.environ.get("TENSORCHICKEN_STATE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/tensorchicken")
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "tensorchicken"


def make_folder(path: Path, what: str) -> None:
    """Make the folder ``path`` (and its parents) for ``what`` (its key, "--state-dir"); an
    OSError whose message names ``what`` and the path when it cannot be (a file is there, no
    permission), not only the errno."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise FileExistsError(f"{what} {path}: a file is there, not a folder") from None
    except OSError as exc:
        raise OSError(f"{what} {path}: cannot make the folder: {exc.strerror or exc}") from None


def runtime_dir() -> Path | None:
    """systemd's RuntimeDirectory (tmpfs under /run) when running as the service, else None.

    For files rewritten often and worthless after a reboot: writing them there spares the SD card.
    """
    if env := os.environ.get("RUNTIME_DIRECTORY"):
        return Path(env.split(":")[0])
    return None
