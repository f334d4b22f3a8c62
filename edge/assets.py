"""Models, labels and demo media: fetched once, verified by sha256, kept outside the checkout.

The manifest (``models/manifest.yaml``) gives each file's public address and sha256. Mirrors
(``--mirror DIR`` or ``TENSORCHICKEN_MIRROR=dir1:dir2``) are local folders tried before the
network. A file is written under a temporary name and renamed only once verified, so a kill
mid-copy never leaves a half file that looks whole.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from edge.paths import default_data_dir, shipped_dir

log = logging.getLogger(__name__)

ASSET_PREFIX = "asset:"
MIRROR_ENV = "TENSORCHICKEN_MIRROR"


class AssetError(RuntimeError):
    """An asset that is unknown, cannot be had, or is not the file the manifest names."""


@dataclass(frozen=True, slots=True)
class AssetFile:
    """One downloadable file from the manifest."""

    name: str
    path: str
    url: str
    sha256: str
    size: int
    group: str
    licence: str


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`AssetError` naming the file unless its sha256 is ``expected``."""
    actual = sha256_of(path)
    if actual != expected:
        raise AssetError(
            f"{path}: sha256 is {actual}, the manifest says {expected}; the file is corrupt, "
            "truncated or not the one expected. Delete it and run 'tensorchicken fetch-models'."
        )


def load_manifest(path: Path | None = None) -> dict[str, AssetFile]:
    """The manifest's files by name."""
    path = path or shipped_dir("models") / "manifest.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    files = [AssetFile(**{k: f[k] for k in AssetFile.__slots__}) for f in data["files"]]
    return {f.name: f for f in files}


def mirrors_from_env(environ: dict[str, str] | None = None) -> list[Path]:
    """Mirror folders named by ``TENSORCHICKEN_MIRROR`` (``:``-separated)."""
    value = (os.environ if environ is None else environ).get(MIRROR_ENV, "")
    return [Path(p) for p in value.split(":") if p]


Downloader = Callable[[str, Path], None]


def _copy(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)


def _download(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as resp, dest.open("wb") as out:
        shutil.copyfileobj(resp, out)


class AssetStore:
    """The local folder of verified assets, filled from mirrors or the network on demand."""

    def __init__(
        self,
        data_dir: Path | None = None,
        mirrors: Iterable[Path] | None = None,
        manifest: dict[str, AssetFile] | None = None,
        download: Downloader = _download,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.mirrors = list(mirrors) if mirrors is not None else mirrors_from_env()
        self.files = manifest if manifest is not None else load_manifest()
        self._download = download

    def entry(self, name: str) -> AssetFile:
        """The manifest entry for ``name``."""
        try:
            return self.files[name]
        except KeyError:
            raise AssetError(f"{name}: not in the asset manifest") from None

    def local_path(self, name: str) -> Path:
        """Where ``name`` lives once fetched (whether or not it is there yet)."""
        return self.data_dir / self.entry(name).path

    def path(self, name: str) -> Path:
        """The verified local file for ``name``, fetched first if it is missing."""
        target = self.local_path(name)
        if not target.is_file():
            self.fetch_one(name)
        return target

    def resolve(self, address: str) -> str:
        """``asset:NAME`` → the local path of that asset; any other address unchanged."""
        if address.startswith(ASSET_PREFIX):
            return str(self.path(address[len(ASSET_PREFIX) :]))
        return address

    def fetch(self, names: Iterable[str] | None = None, force: bool = False) -> list[str]:
        """Fetch and verify every named asset (all by default); returns one line per file."""
        lines = []
        for name in names if names is not None else self.files:
            target = self.local_path(name)
            if target.is_file() and not force:
                verify_sha256(target, self.files[name].sha256)
                lines.append(f"ok       {name}")
                continue
            lines.append(f"fetched  {name} from {self.fetch_one(name)}")
        return lines

    def fetch_one(self, name: str) -> str:
        """Copy ``name`` from a mirror (or download it), verify it, move it in place."""
        entry = self.entry(name)
        target = self.local_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        errors: list[str] = []
        for origin, fill in self._origins(entry):
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                fill(tmp)
                verify_sha256(tmp, entry.sha256)
                os.replace(tmp, target)
                log.info("asset %s from %s", name, origin)
                return origin
            except (OSError, AssetError) as exc:
                errors.append(f"{origin}: {exc}")
            finally:
                tmp.unlink(missing_ok=True)
        raise AssetError(
            f"{name}: could not be fetched ({'; '.join(errors) or 'no mirror has it'}). "
            f"On a machine without internet, point --mirror or {MIRROR_ENV} at a folder holding it."
        )

    def _origins(self, entry: AssetFile) -> list[tuple[str, Callable[[Path], None]]]:
        origins: list[tuple[str, Callable[[Path], None]]] = []
        for mirror in self.mirrors:
            found = next(
                (c for c in (mirror / entry.path, mirror / entry.name) if c.is_file()), None
            )
            if found is not None:
                origins.append((str(found), functools.partial(_copy, found)))
        origins.append((entry.url, lambda dst: self._download(entry.url, dst)))
        return origins
