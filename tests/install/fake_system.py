"""Stand-ins for the system commands scripts/install.sh calls, for tests on any Linux box.

Each fake is a tiny shell wrapper named like the command (``apt-get``, ``useradd``,
``systemctl``...) that runs ``python fake_system.py NAME ARGS``. The fakes keep their state
(installed packages, users, groups, enabled units) in ``$FAKE_STATE/state.json`` and append every
call to ``$FAKE_STATE/calls.log``, so a test can check what the installer did and that a second
run does nothing. Only the system is faked: the venv's ``tensorchicken`` is the real command
line (real config validation, real model fetching and sha256 checks from the shared mirror).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

NUMPY_VERSION = "1.24.2"  # what apt's python3-numpy is on Bookworm
COMMANDS = (
    "apt-get", "apt-cache", "dpkg-query", "getent", "groupadd", "useradd", "usermod", "userdel",
    "id", "chown", "systemctl", "python3",
)
REPO = Path(__file__).resolve().parents[2]


def install_fakes(bin_dir: Path, state_dir: Path) -> dict[str, str]:
    """Write one wrapper per command into ``bin_dir``; the environment to run the installer."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        _wrapper(bin_dir / name, f'exec "{sys.executable}" "{__file__}" {name} "$@"')
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHON": str(bin_dir / "python3"),
        "FAKE_STATE": str(state_dir),
    }


def _wrapper(path: Path, command: str) -> None:
    path.write_text(f"#!/bin/sh\n{command}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class State:
    """The fake system's packages, users and units, kept in a JSON file between calls."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "state.json"
        default: dict[str, dict[str, Any]] = {
            "packages": {"python3-picamera2": False}, "groups": {"video": []},
            "users": {}, "enabled": {}, "active": {},
        }
        saved = self.path.exists()
        self.data: dict[str, dict[str, Any]] = (
            json.loads(self.path.read_text()) if saved else default
        )

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data))


def main(name: str, args: list[str]) -> int:
    folder = Path(os.environ["FAKE_STATE"])
    with (folder / "calls.log").open("a") as log:
        log.write(" ".join([name, *args]) + "\n")
    state = State(folder)
    code = HANDLERS[name](state, args)
    state.save()
    return code


def apt_get(state: State, args: list[str]) -> int:
    if "install" in args:
        for pkg in (a for a in args[args.index("install") + 1:] if not a.startswith("-")):
            state.data["packages"][pkg] = True
    return 0


def apt_cache(state: State, args: list[str]) -> int:
    # Like Raspberry Pi OS: every package has a candidate, except what a test marks missing.
    pkg = args[-1]
    known = os.environ.get("FAKE_APT_MISSING", "").split()
    print(f"{pkg}:\n  Installed: (none)\n  Candidate: {'(none)' if pkg in known else '1.0'}")
    return 0


def dpkg_query(state: State, args: list[str]) -> int:
    if state.data["packages"].get(args[-1]):
        print("install ok installed", end="")
        return 0
    return 1


def getent(state: State, args: list[str]) -> int:
    table, key = args
    found = state.data["groups" if table == "group" else "users"].get(key)
    return 0 if found is not None else 2


def groupadd(state: State, args: list[str]) -> int:
    state.data["groups"][args[-1]] = []
    return 0


def useradd(state: State, args: list[str]) -> int:
    user = args[-1]
    groups = args[args.index("--groups") + 1].split(",")
    state.data["users"][user] = [user, *groups]
    return 0


def usermod(state: State, args: list[str]) -> int:
    state.data["users"][args[-1]].append(args[args.index("--groups") + 1])
    return 0


def userdel(state: State, args: list[str]) -> int:
    del state.data["users"][args[-1]]
    return 0


def id_(state: State, args: list[str]) -> int:
    if args[:1] == ["-nG"]:
        print(" ".join(state.data["users"][args[1]]))
        return 0
    os.execvp("/usr/bin/id", ["id", *args])
    return 1


def systemctl(state: State, args: list[str]) -> int:
    verb, unit = args[0], args[-1]
    if verb == "is-enabled":
        enabled = state.data["enabled"].get(unit, False)
        print("enabled" if enabled else "disabled")
        return 0 if enabled else 1
    if verb == "is-active":
        return 0 if state.data["active"].get(unit) else 3
    if verb in ("enable", "disable"):
        state.data["enabled"][unit] = verb == "enable"
    if verb in ("start", "restart", "stop"):
        state.data["active"][unit] = verb != "stop"
    return 0


def python3(state: State, args: list[str]) -> int:
    if args[:2] == ["-m", "venv"]:
        bin_dir = Path(args[-1]) / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir.parent / "pyvenv.cfg").write_text("include-system-site-packages = true\n")
        _wrapper(bin_dir / "python", f'exec "{sys.executable}" "$@"')
        _wrapper(bin_dir / "tensorchicken", f'exec "{sys.executable}" -m edge.cli "$@"')
        _wrapper(bin_dir / "pip", f'exec "{sys.executable}" "{__file__}" pip "$@"')
        return 0
    if args[:1] == ["-c"] and "numpy" in args[1]:
        print(NUMPY_VERSION)
        return 0
    raise SystemExit(f"fake python3: unexpected {args}")


def pip(state: State, args: list[str]) -> int:
    state.data["packages"]["pip:" + args[-1]] = True
    return 0


HANDLERS = {
    "apt-get": apt_get, "apt-cache": apt_cache, "dpkg-query": dpkg_query, "getent": getent,
    "groupadd": groupadd, "useradd": useradd, "usermod": usermod, "userdel": userdel,
    "id": id_, "chown": lambda state, args: 0, "systemctl": systemctl, "python3": python3,
    "pip": pip,
}


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main(sys.argv[1], sys.argv[2:]))
