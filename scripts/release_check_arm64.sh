#!/usr/bin/env bash
# Release check, not part of .ci/run (it takes many minutes): install the product the owner's way,
# with scripts/install.sh, into a fresh Debian Bookworm arm64 root under qemu-user emulation, and
# run the demo there. It proves that the install works on the Pi's OS and architecture (apt's
# NumPy, the wheels pip picks for aarch64) and that the demo fires on every predator at an
# emulated arm64's pace.
#
#   sudo scripts/release_check_arm64.sh [--root DIR] [--mirror DIR]... [--ca-cert FILE]... [--keep]
#
# --ca-cert adds a certificate authority the root must trust too (a proxy's that re-signs
# HTTPS, as on a company network or a build machine): pip inside the root needs it to reach PyPI.
#
# Needs, on the host (Debian/Ubuntu): debootstrap and qemu-user 10 or newer registered with
# binfmt_misc for aarch64 with the F flag (Debian's qemu-user-binfmt does both), root, network for
# apt and pip inside the root, and a model mirror (default ../shared/models and ../shared/data) so
# the demo's files need not be downloaded. Exit status 0 only if the install and the demo succeed.
# Why 10: under Debian Bookworm's qemu-user 7.2 the LiteRT interpreter dies with SIGSEGV on its
# first invoke, so the demo cannot run there. Bookworm gets 10.0 from bookworm-backports (add
# "deb http://deb.debian.org/debian bookworm-backports main" to apt's sources, then
# apt-get install -t bookworm-backports qemu-user-static); Trixie's own is 10.0.
#
# For tests only: TENSORCHICKEN_BINFMT_DIR=DIR reads the binfmt_misc handlers from DIR.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOTFS=""
KEEP=0
MIRRORS=()
CA_CERTS=()
SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

while (($#)); do
    case $1 in
        --root) ROOTFS=$2; shift 2 ;;
        --mirror) MIRRORS+=("$2"); shift 2 ;;
        --ca-cert) CA_CERTS+=("$2"); shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "release_check_arm64.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
((${#MIRRORS[@]})) || MIRRORS=("$HERE/../shared/models" "$HERE/../shared/data")

die() { echo "release_check_arm64.sh: $*" >&2; exit 1; }

QEMU_MIN_MAJOR=10
QEMU_HOWTO="qemu-user >= $QEMU_MIN_MAJOR: on Debian Bookworm add bookworm-backports to apt's sources and \
apt-get install -t bookworm-backports qemu-user-static (on Trixie: apt-get install qemu-user-binfmt)"
# The chroot runs arm64 programs through the kernel's binfmt_misc handler for aarch64 ELF files.
# It must open its interpreter at registration (flag F), since the root holds no qemu of its own,
# and be new enough that LiteRT's invoke does not crash it (see the header).
check_qemu() {
    local dir=${TENSORCHICKEN_BINFMT_DIR:-/proc/sys/fs/binfmt_misc} interpreter flags version major
    local entry=$dir/qemu-aarch64
    [[ -r $entry ]] || die "no qemu-aarch64 handler in $dir: install $QEMU_HOWTO"
    grep -qx enabled "$entry" || die "the binfmt_misc handler qemu-aarch64 is disabled: update-binfmts --enable qemu-aarch64"
    interpreter=$(sed -n 's/^interpreter //p' "$entry")
    flags=$(sed -n 's/^flags: //p' "$entry")
    [[ $flags == *F* ]] || die "the binfmt_misc handler qemu-aarch64 ($interpreter) lacks flag F (flags: ${flags:-none}), so a chroot cannot reach it: install $QEMU_HOWTO"
    # Debian registers a symlink named *-binfmt-P, which only runs under binfmt_misc: ask its target.
    version=$("$(readlink -f "$interpreter")" --version 2>/dev/null \
        | sed -n '1s/.* version \([0-9][0-9.]*\).*/\1/p') || true
    major=${version%%.*}
    [[ $major =~ ^[0-9]+$ ]] || die "cannot tell the version of $interpreter (the binfmt_misc handler for aarch64)"
    ((major >= QEMU_MIN_MAJOR)) \
        || die "$interpreter is qemu $version; LiteRT crashes (SIGSEGV) under qemu 7.2, so this check needs $QEMU_HOWTO"
    echo "== arm64 programs run by $interpreter (qemu $version)"
}
check_qemu
[[ $(id -u) == 0 ]] || die "run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
for m in "${MIRRORS[@]}"; do [[ -d $m ]] || die "mirror folder $m does not exist"; done
for c in "${CA_CERTS[@]}"; do [[ -f $c ]] || die "certificate $c does not exist"; done

ROOTFS=${ROOTFS:-$(mktemp -d /var/tmp/tensorchicken-arm64.XXXXXX)}
mounted=()
cleanup() {
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[i]}" || true; done
    ((KEEP)) || rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

started=$(date +%s)
if [[ ! -x $ROOTFS/bin/bash ]]; then
    echo "== debootstrap $SUITE arm64 into $ROOTFS"
    debootstrap --arch=arm64 --foreign --variant=minbase "$SUITE" "$ROOTFS" "$DEBIAN_MIRROR"
    chroot "$ROOTFS" /debootstrap/debootstrap --second-stage
fi
bind() { mkdir -p "$ROOTFS$2"; mount --bind "$1" "$ROOTFS$2"; mounted+=("$ROOTFS$2"); }
mount -t proc proc "$ROOTFS/proc"; mounted+=("$ROOTFS/proc")
bind /dev /dev
bind /sys /sys
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
bind "$HERE" /src
args=()
inside=()
for i in "${!MIRRORS[@]}"; do
    bind "$(cd "${MIRRORS[i]}" && pwd)" "/mirror$i"
    args+=(--mirror "/mirror$i")
    inside+=("/mirror$i")
done

# Raspberry Pi OS always has systemd (the service needs it); debootstrap's minbase has not.
if ! chroot "$ROOTFS" sh -c 'command -v systemctl' >/dev/null; then
    echo "== systemd into the arm64 root, as on Raspberry Pi OS"
    chroot "$ROOTFS" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    chroot "$ROOTFS" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

if ((${#CA_CERTS[@]})); then
    echo "== ${#CA_CERTS[@]} extra certificate authorities into the arm64 root"
    chroot "$ROOTFS" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null
    for c in "${CA_CERTS[@]}"; do
        cp "$c" "$ROOTFS/usr/local/share/ca-certificates/$(basename "${c%.*}").crt"
    done
    chroot "$ROOTFS" update-ca-certificates >/dev/null
fi

echo "== scripts/install.sh inside the arm64 root (systemd is not running there: --no-start)"
install_started=$(date +%s)
chroot "$ROOTFS" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    bash /src/scripts/install.sh --source /src --no-start "${args[@]}"
echo "   install took $(( $(date +%s) - install_started )) s"

echo "== tensorchicken demo inside the arm64 root"
mirror_env=$(IFS=:; echo "${inside[*]}")
# The demo's 50 s default is wall time; emulated, its cameras deliver their 45 s of footage
# more slowly than that, so it would stop before the last arrivals. With a generous limit it
# ends when every source has ended.
chroot "$ROOTFS" /usr/bin/env TENSORCHICKEN_MIRROR="$mirror_env" \
    /opt/tensorchicken/venv/bin/tensorchicken demo --json --duration 900 > "$ROOTFS/demo.json"
/usr/bin/env python3 -m json.tool --indent 1 "$ROOTFS/demo.json"
echo "== release check passed in $(( $(date +%s) - started )) s"
