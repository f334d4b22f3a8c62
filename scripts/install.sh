#!/usr/bin/env bash
# Install TensorChicken as a service on Raspberry Pi OS (Bookworm, 64-bit; Pi 3B+, 4, 5, Zero 2 W).
#
#   sudo ./scripts/install.sh                       # from this checkout
#   sudo ./scripts/install.sh --source ./tensorchicken-0.1.0-py3-none-any.whl
#   sudo ./scripts/install.sh --source git+https://example.org/you/tensorchicken.git
# (a wheel is built from a checkout with: python3 -m pip wheel --no-deps -w dist .; there is no
# TensorChicken package on PyPI)
#   sudo ./scripts/install.sh --uninstall           # keeps /etc/tensorchicken and the events
#
# Every step looks before it acts, so running it again changes nothing (and says so); a new
# source or --upgrade reinstalls the package. --dry-run prints what it would do.
#
# What it sets up:
#   apt       python3-venv, python3-numpy, and python3-picamera2 / python3-lgpio where the
#             archive has them (Raspberry Pi OS does; plain Debian does not)
#   user      tensorchicken (system user, no login) in the gpio and video groups
#   venv      /opt/tensorchicken/venv, made with --system-site-packages so that it sees
#             picamera2 and libcamera from apt (the picamera2 manual's advice)
#   package   tensorchicken[pi], NumPy pinned to apt's (see "NumPy" below)
#   config    /etc/tensorchicken/config.yaml, written only when absent, then validated
#   secrets   /etc/credstore/ (root, 0700): one file per secret, read by the unit
#   models    fetched and verified into /var/lib/tensorchicken/assets
#   unit      /etc/systemd/system/tensorchicken.service, enabled and (re)started
#
# NumPy: apt's picamera2 and its compiled helper simplejpeg are built against apt's NumPy
# (1.24 on Bookworm, 2.x on Trixie). A venv that sees the system packages but pip-installs
# another NumPy on top shadows apt's, and simplejpeg then fails to import (a 1.x build under
# NumPy 2) or warns about a newer ABI. So the whole venv uses apt's NumPy: it is pinned to that
# exact version in a constraints file, and the rest is chosen to fit it: OpenCV 4.x wheels
# (< 4.12) under NumPy 1.x (OpenCV 4.12+ and 5.x need NumPy 2), and ai-edge-litert, which
# accepts NumPy >= 1.23.2 (tflite-runtime 2.14 would need NumPy 1.x and is not used).
#
# For tests only: TENSORCHICKEN_INSTALL_ROOT=DIR puts every file under DIR (the commands are
# whatever is first on PATH, so tests put fakes there).
set -euo pipefail

APP=tensorchicken
ROOT=${TENSORCHICKEN_INSTALL_ROOT:-}
PYTHON=${PYTHON:-python3}
OPT=/opt/$APP
VENV=$OPT/venv
ETC=/etc/$APP
CONFIG=$ETC/config.yaml
CREDSTORE=/etc/credstore
STATE=/var/lib/$APP
ASSETS=$STATE/assets
UNIT=/etc/systemd/system/$APP.service
STAMP=$OPT/installed-from
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECKOUT=$(dirname "$SCRIPT_DIR")

SOURCE=""
DRY_RUN=0
UNINSTALL=0
START=1
UPGRADE=0
MIRRORS=()
CHANGES=()
PROBLEMS=()

usage() {
    cat <<EOF
usage: $0 [--source DIR|PIP_SPEC] [--mirror DIR]... [--no-start] [--upgrade] [--dry-run]
       $0 --uninstall [--dry-run]
  --source     a checkout, a wheel built from one, or the repository's git URL (default:
               the checkout holding this script; there is no package on PyPI)
  --mirror     a folder holding model files, tried before the network (repeatable)
  --no-start   install and enable, but do not start the service now
  --upgrade    reinstall the package even if the same source was installed before
  --dry-run    print what would change, change nothing
  --uninstall  remove the service, the venv, the models and the user; keep $ETC,
               $CREDSTORE and the events in $STATE
EOF
}

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }
ok() { say "  ok       $*"; }
changed() { CHANGES+=("$*"); say "  changed  $*"; }

# Run a command that changes the system, or only show it under --dry-run.
act() {
    if ((DRY_RUN)); then
        say "  would run: $*"
    else
        "$@"
    fi
}

parse_args() {
    while (($#)); do
        case $1 in
            --source) [ $# -ge 2 ] || die "--source needs a value"; SOURCE=$2; shift ;;
            --mirror) [ $# -ge 2 ] || die "--mirror needs a folder"; MIRRORS+=("$2"); shift ;;
            --no-start) START=0 ;;
            --upgrade) UPGRADE=1 ;;
            --dry-run) DRY_RUN=1 ;;
            --uninstall) UNINSTALL=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done
    if [ -z "$SOURCE" ] && ((! UNINSTALL)); then
        if [ ! -f "$CHECKOUT/setup.cfg" ] || [ ! -d "$CHECKOUT/edge" ]; then
            die "no --source, and $SCRIPT_DIR is not in a checkout: give --source a wheel" \
                "built from the checkout (python3 -m pip wheel --no-deps -w dist .), a" \
                "checkout or the repository's git URL (there is no TensorChicken on PyPI)"
        fi
        SOURCE=$CHECKOUT
    fi
    for m in "${MIRRORS[@]}"; do
        [ -d "$m" ] || die "--mirror $m: not a folder"
    done
}

preflight() {
    if ((!DRY_RUN)) && [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
        die "run as root (sudo $0 $*)"
    fi
    local codename="" arch
    # shellcheck disable=SC1091
    [ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    arch=$(uname -m)
    case $codename in
        bookworm|trixie) ;;
        *) say "warning: written for Raspberry Pi OS Bookworm; this is '${codename:-unknown}'" ;;
    esac
    [ "$arch" = aarch64 ] || say "warning: written for 64-bit Raspberry Pi OS; this is $arch"
    command -v systemctl >/dev/null || die "systemd's systemctl is missing: the service needs systemd"
}

# --- apt ------------------------------------------------------------------------------------

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

available() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

apt_packages() {
    say "apt packages"
    local wanted=(python3-venv python3-pip python3-numpy) missing=() pkg
    # picamera2 and lgpio come from the Raspberry Pi archive; elsewhere the Pi camera backend is
    # unavailable (USB and RTSP cameras still work) and gpiozero uses another pin factory.
    for pkg in python3-picamera2 python3-lgpio; do
        if installed "$pkg" || available "$pkg"; then
            wanted+=("$pkg")
        else
            PROBLEMS+=("$pkg is not in this system's apt archive: the Pi camera or lgpio backend is unavailable")
        fi
    done
    for pkg in "${wanted[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        ok "${wanted[*]}"
        return
    fi
    act apt-get update -qq
    act env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    changed "apt: installed ${missing[*]}"
}

# --- user -----------------------------------------------------------------------------------

ensure_user() {
    say "user"
    local group
    for group in gpio video; do
        if getent group "$group" >/dev/null; then
            ok "group $group"
        else
            act groupadd --system "$group"
            changed "group $group created"
        fi
    done
    if ! getent passwd "$APP" >/dev/null; then
        act useradd --system --user-group --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "TensorChicken service" --groups gpio,video "$APP"
        changed "user $APP created (groups gpio, video)"
        return
    fi
    ok "user $APP"
    local have
    have=" $(id -nG "$APP") "
    for group in gpio video; do
        if [[ $have != *" $group "* ]]; then
            act usermod --append --groups "$group" "$APP"
            changed "user $APP added to group $group"
        fi
    done
}

# --- files ----------------------------------------------------------------------------------

# Write stdin to ROOT+path when its content differs; report either way. Feed it with a
# redirection, not a pipe: a pipe would run it in a subshell and lose the record of the change.
put_file() {
    local path=$1 mode=$2 what=$3 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [ -f "$ROOT$path" ] && cmp -s "$tmp" "$ROOT$path"; then
        rm -f "$tmp"
        ok "$what ($path)"
        return 1
    fi
    if ((DRY_RUN)); then
        say "  would write $path"
    else
        mkdir -p "$(dirname "$ROOT$path")"
        install -m "$mode" "$tmp" "$ROOT$path"
    fi
    rm -f "$tmp"
    changed "$what ($path)"
}

ensure_dir() {
    local path=$1 mode=$2
    if [ -d "$ROOT$path" ] && [ "$(stat -c %a "$ROOT$path")" = "${mode#0}" ]; then
        return
    fi
    act install -d -m "$mode" "$ROOT$path"
    changed "folder $path (mode $mode)"
}

# --- the package ----------------------------------------------------------------------------

source_fingerprint() {
    if [ -d "$SOURCE" ]; then
        (cd "$SOURCE" && find . \( -name .git -o -name .venv -o -name __pycache__ \
            -o -name '*.egg-info' -o -name build -o -name tests \) -prune -o -type f \
            \( -name '*.py' -o -name '*.cfg' -o -name '*.toml' -o -name '*.yaml' \
            -o -name '*.service' -o -name '*.txt' \) -print0 | LC_ALL=C sort -z \
            | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
    elif [ -f "$SOURCE" ]; then
        sha256sum "$SOURCE" | cut -d' ' -f1
    else
        printf '%s\n' "$SOURCE"
    fi
}

constraints() {
    # apt's NumPy, exactly (see "NumPy" at the top); OpenCV to match its major version.
    local numpy
    numpy=$("$PYTHON" -c 'import numpy; print(numpy.__version__)' 2>/dev/null) \
        || { ((DRY_RUN)) && numpy=""; } || die "apt's python3-numpy does not import"
    say "# Written by scripts/install.sh: the venv keeps the NumPy that apt's picamera2 uses."
    if [ -n "$numpy" ]; then
        say "numpy==$numpy"
        [ "${numpy%%.*}" -ge 2 ] || say "opencv-python-headless<4.12"
    fi
}

python_package() {
    say "python environment"
    if [ -x "$ROOT$VENV/bin/python" ]; then
        ok "venv $VENV"
    else
        act "$PYTHON" -m venv --system-site-packages "$ROOT$VENV"
        changed "venv $VENV (with the system's site-packages)"
    fi
    local pins
    pins=$(constraints)
    put_file "$OPT/constraints.txt" 0644 "pip constraints" <<<"$pins" || true
    local want have=""
    want="$SOURCE $(source_fingerprint)"
    [ -f "$ROOT$STAMP" ] && have=$(cat "$ROOT$STAMP")
    if [ "$want" = "$have" ] && ((!UPGRADE)); then
        ok "package from $SOURCE (unchanged)"
        return
    fi
    local spec=$SOURCE extras=""
    [ -e "$SOURCE" ] && spec=$(readlink -f "$SOURCE")
    # The [pi] extra names picamera2 and lgpio; with apt's copies installed pip sees them as
    # satisfied and leaves them alone. Without apt's picamera2, pip would build it from PyPI
    # (python-prctl needs a compiler and libcap-dev): skip the extra then.
    installed python3-picamera2 && extras="[pi]"
    [[ $spec == *://* ]] && spec="$APP${extras} @ $spec" && extras=""
    act "$ROOT$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade \
        --constraint "$ROOT$OPT/constraints.txt" "${spec}${extras}"
    put_file "$STAMP" 0644 "package from $SOURCE" <<<"$want" || true
    smoke_test
}

smoke_test() {
    # The NumPy pitfall shows at import time: import what the camera path imports.
    local check='import numpy, cv2
try:
    import picamera2, simplejpeg
    cam = "picamera2 " + getattr(picamera2, "__version__", "ok")
except ImportError as exc:
    cam = f"no picamera2 ({exc})"
print(f"numpy {numpy.__version__}, opencv {cv2.__version__}, {cam}")'
    if ((DRY_RUN)); then
        say "  would check that numpy, cv2 and picamera2 import together"
        return
    fi
    say "  imports: $("$ROOT$VENV/bin/python" -c "$check")"
}

cli() { "$ROOT$VENV/bin/$APP" "$@"; }

# --- configuration, secrets, models -----------------------------------------------------------

default_config() {
    cat <<'EOF'
# TensorChicken configuration; `tensorchicken validate-config FILE` checks it.
# Written once by scripts/install.sh and never overwritten. Secrets do not go here: see
# /etc/credstore/ (README.md, "Secrets").
cameras:
  - name: coop
    kind: picamera2
    width: 1280
    height: 720
    fps: 10
gpio:
  # The Pi's real pins. Check the wiring (docs), then arm below.
  pin_factory: auto
decision:
  # Disarmed until you have checked the wiring: events are logged and reported, nothing fires.
  # Set to true (or use the MQTT "armed" switch) to let a confirmed predator fire deterrents.
  armed: false
health:
  metrics_address: "127.0.0.1:9464"
paths:
  # The service's folders (systemd's StateDirectory and the models fetched here), so that a
  # command run by hand with -c (sudo -u tensorchicken tensorchicken doctor -c ..., models
  # promote, events, label, train) reads and writes what the service uses.
  state_dir: /var/lib/tensorchicken
  data_dir: /var/lib/tensorchicken/assets
EOF
}

configuration() {
    say "configuration"
    ensure_dir "$ETC" 0755
    if [ -e "$ROOT$CONFIG" ]; then
        ok "$CONFIG (kept as it is)"
    else
        put_file "$CONFIG" 0644 "default configuration" < <(default_config) || true
    fi
    ensure_dir "$CREDSTORE" 0700
    if ((DRY_RUN)) && [ ! -x "$ROOT$VENV/bin/$APP" ]; then
        say "  would validate $CONFIG"
        return
    fi
    local report
    if report=$(cli validate-config "$ROOT$CONFIG" 2>&1); then
        ok "$CONFIG is valid"
    else
        PROBLEMS+=("$CONFIG is not valid; the service will not start until it is:"$'\n'"$report")
    fi
}

models() {
    say "models"
    ensure_dir "$STATE" 0750
    local args=(fetch-models --group models) m
    for m in "${MIRRORS[@]}"; do args+=(--mirror "$m"); done
    if ((DRY_RUN)); then
        say "  would run: $APP ${args[*]} (into $ASSETS)"
        return
    fi
    local out
    out=$(TENSORCHICKEN_DATA_DIR="$ROOT$ASSETS" cli "${args[@]}" 2>&1) \
        || die "fetching the models failed:"$'\n'"$out"
    # fetch-models prints 'ok NAME' for a file already verified, 'fetched NAME from ...' else.
    if grep -q "^fetched" <<<"$out"; then
        changed "models into $ASSETS"
    else
        ok "models in $ASSETS ($(tail -n1 <<<"$out"))"
    fi
    # The service runs as $APP; StateDirectory= expects it to own its state.
    if [ -n "$(find "$ROOT$STATE" \! -user "$APP" -print -quit 2>/dev/null)" ]; then
        act chown -R "$APP:$APP" "$ROOT$STATE"
        changed "$STATE owned by $APP"
    fi
}

# --- the unit -------------------------------------------------------------------------------

unit_source() {
    local shipped=$ROOT$VENV/share/$APP/systemd/$APP.service
    if [ -f "$shipped" ]; then echo "$shipped"; else echo "$CHECKOUT/systemd/$APP.service"; fi
}

systemd_running() { [ -d "$ROOT/run/systemd/system" ]; }

service() {
    say "service"
    local unit_changed=0
    put_file "$UNIT" 0644 "unit" <"$(unit_source)" && unit_changed=1
    if ((unit_changed)) && systemd_running; then
        act systemctl daemon-reload
    fi
    if [ "$(systemctl is-enabled "$APP.service" 2>/dev/null)" = enabled ]; then
        ok "$APP.service enabled"
    else
        act systemctl enable --quiet "$APP.service"
        changed "$APP.service enabled at boot"
    fi
    if ! systemd_running || ((!START)); then
        say "  (not starting: $( ((START)) && echo "systemd is not running here" || echo "--no-start"))"
        return
    fi
    if ((${#PROBLEMS[@]})) && grep -q "not valid" <<<"${PROBLEMS[*]}"; then
        say "  (not starting: the configuration is not valid)"
        return
    fi
    if ! systemctl is-active --quiet "$APP.service"; then
        act systemctl start --no-block "$APP.service"
        changed "$APP.service started"
    elif ((${#CHANGES[@]})); then
        act systemctl restart --no-block "$APP.service"
        changed "$APP.service restarted (something changed)"
    else
        ok "$APP.service running"
    fi
}

# --- uninstall ------------------------------------------------------------------------------

uninstall() {
    say "uninstall (keeping $ETC, $CREDSTORE and the events in $STATE)"
    local unit
    for unit in "$APP.service" "$APP-firstboot.service"; do
        if [ -f "$ROOT/etc/systemd/system/$unit" ]; then
            if systemd_running; then act systemctl stop "$unit" || true; fi
            act systemctl disable --quiet "$unit" || true
            act rm -f "$ROOT/etc/systemd/system/$unit"
            changed "$unit stopped, disabled and removed"
        fi
    done
    if [ -e "$ROOT/usr/local/sbin/$APP-firstboot" ]; then
        act rm -f "$ROOT/usr/local/sbin/$APP-firstboot"
        changed "first-boot script removed"
    fi
    ((${#CHANGES[@]})) && systemd_running && act systemctl daemon-reload
    local path
    for path in "$OPT" "$ASSETS"; do
        if [ -e "$ROOT$path" ]; then
            act rm -rf "$ROOT$path"
            changed "$path removed"
        fi
    done
    if getent passwd "$APP" >/dev/null; then
        act userdel "$APP"
        changed "user $APP removed (its files in $STATE keep their numeric owner)"
    fi
    say "apt packages are left installed: other software may use them."
}

summary() {
    say ""
    if ((${#CHANGES[@]} == 0)); then
        say "Nothing to change: TensorChicken is installed as asked."
    else
        say "${#CHANGES[@]} change(s)$( ((DRY_RUN)) && echo " would be made")."
    fi
    local p
    for p in "${PROBLEMS[@]}"; do say "note: $p"; done
    ((UNINSTALL)) && return
    cat <<EOF

Next:
  1. Edit $CONFIG (cameras, deterrent pins, MQTT, X), then check it:
       sudo $VENV/bin/$APP validate-config $CONFIG
  2. Secrets, one file each, e.g.:  sudo install -m 600 /dev/stdin $CREDSTORE/mqtt_password
     (names: mqtt_password, twitter_consumer_key, twitter_consumer_secret,
      twitter_access_token, twitter_access_token_secret)
  3. Arm it (decision.armed: true) once the wiring is checked; then
       sudo systemctl restart $APP && journalctl -u $APP -f
  4. Health: sudo -u $APP $VENV/bin/$APP doctor -c $CONFIG;  metrics: curl localhost:9464/metrics
EOF
}

main() {
    parse_args "$@"
    preflight "$@"
    if ((UNINSTALL)); then
        uninstall
    else
        say "TensorChicken from $SOURCE$( ((DRY_RUN)) && echo " (dry run)")"
        apt_packages
        ensure_user
        python_package
        configuration
        models
        service
    fi
    summary
    if ((${#PROBLEMS[@]})) && grep -q "not valid" <<<"${PROBLEMS[*]}"; then
        exit 1
    fi
}

main "$@"
