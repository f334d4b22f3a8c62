"""Models, labels and demo media: fetched once, verified by sha256, kept outside the checkout.

The manifest (``models/manifest.yaml``) gives each file's public address and sha256, or, where
the source publishes no sha256 but the file sits in a public git tree, its git blob id (the SHA-1
of ``"blob <size>\0"`` and the bytes, what ``git hash-object`` prints). A file fetched by its blob
id has the sha256 of the bytes so verified recorded beside it (``<file>.sha256``), and every later
load checks that sha256, as for any other file. Mirrors
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

from classifier.assets import AssetUnavailable
from classifier.spec import manifest_path
from edge.events.archive import write_atomic
from edge.paths import default_data_dir
from groundwork.digest import hash_of, sha256_of, verify_sha256
from groundwork.durable import replace_durably

log = logging.getLogger(__name__)

ASSET_PREFIX = "asset:"
MIRROR_ENV = "TENSORCHICKEN_MIRROR"
# Beside a file verified by its git blob id: the sha256 of the bytes that passed.
RECORD_SUFFIX = ".sha256"


class AssetError(AssetUnavailable):
    """An asset that is unknown, cannot be had, or is not the file the manifest names."""


@dataclass(frozen=True, slots=True)
class AssetFile:
    """One downloadable file from the manifest, verified by its ``sha256`` or, when its source
    publishes none, by its ``git_blob`` id (exactly one of the two is set)."""

    name: str
    path: str
    url: str
    group: str
    licence: str
    size: int | None = None  # bytes, when known (informative: the hashes decide)
    sha256: str | None = None
    git_blob: str | None = None


def git_blob_of(path: Path) -> str:
    """The git blob id of a file: the hex SHA-1 of ``"blob <size>\0"`` and its bytes."""
    header = f"blob {path.stat().st_size}\0".encode()
    return hash_of(path, hashlib.sha1(header, usedforsecurity=False))


def verify_git_blob(path: Path, expected: str) -> None:
    """Raise :class:`AssetError` naming the file unless its git blob id is ``expected``."""
    actual = git_blob_of(path)
    if actual != expected:
        raise AssetError(
            f"{path}: git blob id is {actual}, the manifest says {expected}; the file is "
            "corrupt, truncated or not the one expected. It is not the file the source's git "
            "tree holds."
        )


def load_manifest(path: Path | None = None) -> dict[str, AssetFile]:
    """The manifest's files by name; AssetError naming an entry without exactly one of
    ``sha256`` and ``git_blob``."""
    path = path or manifest_path()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    files = [AssetFile(**{k: f.get(k) for k in AssetFile.__slots__}) for f in data["files"]]
    for f in files:
        if (f.sha256 is None) == (f.git_blob is None):
            raise AssetError(f"{path}: files entry {f.name}: give either sha256 or git_blob")
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

    def __contains__(self, name: object) -> bool:
        """Whether the manifest names asset ``name``."""
        return name in self.files

    def local_path(self, name: str) -> Path:
        """Where ``name`` lives once fetched (whether or not it is there yet)."""
        return self.data_dir / self.entry(name).path

    def sha256(self, name: str) -> str:
        """The sha256 the local copy of ``name`` must have: the manifest's, or for a file known
        by its git blob id, the one recorded when its blob id was verified.

        A copy put in place by hand (no record yet) has its blob id verified now, once.
        """
        entry = self.entry(name)
        if entry.sha256 is not None:
            return entry.sha256
        try:
            return self._recorded(name)
        except (OSError, IndexError):
            pass
        if not self.local_path(name).is_file():
            self.fetch_one(name)  # verifies the blob id and records the sha256
            return self._recorded(name)
        return self._verify_and_record(self.local_path(name), entry)

    def _record_path(self, name: str) -> Path:
        target = self.local_path(name)
        return target.with_name(target.name + RECORD_SUFFIX)

    def _recorded(self, name: str) -> str:
        return self._record_path(name).read_text(encoding="ascii").split()[0]

    def _verify_and_record(self, path: Path, entry: AssetFile) -> str:
        """Check a blob-id file in place and record the sha256 of the bytes that passed."""
        assert entry.git_blob is not None
        verify_git_blob(path, entry.git_blob)
        digest = sha256_of(path)
        self._record(entry, digest)
        return digest

    def _record(self, entry: AssetFile, digest: str) -> None:
        # sha256sum's format, so that `sha256sum -c` can check it too.
        write_atomic(self._record_path(entry.name), f"{digest}  {Path(entry.path).name}\n".encode())
        log.info("asset %s: git blob id %s verified; sha256 %s recorded",
                 entry.name, entry.git_blob, digest)

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
                verify_sha256(target, self.sha256(name), AssetError)
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
                digest = None
                if entry.sha256 is not None:
                    verify_sha256(tmp, entry.sha256, AssetError)
                else:  # the old record is for other bytes (or none): a new one once in place
                    assert entry.git_blob is not None
                    verify_git_blob(tmp, entry.git_blob)
                    digest = sha256_of(tmp)
                    self._record_path(name).unlink(missing_ok=True)
                replace_durably(tmp, target)
                if digest is not None:
                    self._record(entry, digest)
                log.info("asset %s from %s", name, origin)
                return origin
            except (OSError, AssetError) as exc:
                errors.append(f"{origin}: {exc}")
            finally:
                tmp.unlink(missing_ok=True)
        missing = [str(m) for m in self.mirrors if not Path(m).is_dir()]
        if missing:
            errors.append(f"no such mirror folder: {', '.join(missing)}")
        if not self.mirrors:
            errors.append("no mirror given")
        full = next((e for e in errors if "No space left" in e), None)
        advice = (f"the data folder {target.parent} is full: free some space" if full else
                  f"on a machine without internet, point --mirror or {MIRROR_ENV} at a folder "
                  "holding it")
        raise AssetError(f"{name}: could not be fetched ({'; '.join(errors)}). "
                         f"{advice[0].upper()}{advice[1:]}.")

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
