"""Files that survive a power cut: the old content or the new, never half of either.

One way to write: a temporary file beside the target, fsync it, rename it over the target,
fsync the folder (the rename itself is only durable once the folder is on disk).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(source: Path, target: Path) -> None:
    """Move a finished file or folder ``source`` over ``target`` (same filesystem), durably."""
    fsync_path(source)
    os.replace(source, target)
    fsync_path(Path(target).parent)


def write_durably(
    path: Path, data: bytes, *, temp: Path | None = None, folder_owner: bool = False
) -> None:
    """Write ``data`` to ``path`` so that ``path`` is the old file or the new one, never half.

    ``temp`` names the temporary file (for writers that sweep their own leftovers); by default
    it is a fresh name beside ``path``. Either way the new file is private (mode 0600). With
    ``folder_owner`` a file written by root gets its folder's owner, so the service's user can
    still read it. On any error the temporary file is removed and the error raised.
    """
    path = Path(path)
    if temp is None:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        temp = Path(name)
    else:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            if folder_owner and os.geteuid() == 0:
                folder = path.parent.stat()
                os.fchown(fd, folder.st_uid, folder.st_gid)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
