#!/usr/bin/env bash
# The test command: sets up what the tests need on a fresh machine, then lint, types, tests.
#   ./scripts/test.sh [pytest arguments]
# Debian packages (the Mosquitto broker for MQTT tests, shellcheck and systemd-analyze for the
# installer and unit, Chromium and its driver for the web page tests) are installed with
# apt-get when missing; the Python environment is .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    -h|--help)
        sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
        echo "Any other arguments go to pytest (e.g. -q, -x, tests/camera, -k motion)."
        exit 0 ;;
esac

APT_PACKAGES=(mosquitto shellcheck systemd chromium chromium-driver)
VENV=${TENSORCHICKEN_VENV:-.venv}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'

# The shared mirror beside the checkout holds the models and photos the tests use.
if [ -z "${TENSORCHICKEN_MIRROR:-}" ] && [ -d ../shared/models ]; then
    export TENSORCHICKEN_MIRROR="$PWD/../shared/models:$PWD/../shared/data"
fi

"$VENV/bin/ruff" check edge camera classifier actuators scripts tests
"$VENV/bin/mypy"
# The scripts too (benchmarks and builders): not a package, so a second run over the folder.
"$VENV/bin/mypy" scripts
# The layering contracts of pyproject.toml (edge composes camera, classifier, actuators; no cycles).
"$VENV/bin/lint-imports"
"$VENV/bin/python" -m pytest "$@"
