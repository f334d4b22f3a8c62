#!/usr/bin/env bash
# First boot, no keyboard: install TensorChicken from the SD card's boot partition.
#
# Run by tensorchicken-firstboot.service once the network is up (installed there by firstrun.sh
# on Bookworm images, or by cloud-init's user-data on newer ones). It reads the folder
# tensorchicken/ on the boot partition:
#   install.sh          the installer (scripts/install.sh), required
#   tensorchicken-*.whl what to install: a wheel built from the checkout
#                       (python3 -m pip wheel --no-deps -w dist .)
#   source              or one line naming it: a git URL of the repository (git+https://...)
#                       or a wheel's path; one of the two is required (there is no PyPI package)
#   config.yaml         optional: your configuration, copied to /etc/tensorchicken/ if absent
#   credentials/NAME    optional: secrets (mqtt_password, twitter_*), moved to /etc/credstore/
#                       and deleted from the boot partition, which anyone with the card can read
#   models/             optional: model files, used instead of downloading them
# On success it disables itself; on failure systemd retries it (network not ready, mirror down),
# except when the card says nothing to install (exit 2, not retried: the card must be fixed).
set -euo pipefail

APP=tensorchicken
# For tests only: TENSORCHICKEN_INSTALL_ROOT=DIR looks for the boot partition under DIR.
ROOT=${TENSORCHICKEN_INSTALL_ROOT:-}
DONE=$ROOT/var/lib/$APP-firstboot.done

boot_dir() {
    local dir
    for dir in "$ROOT/boot/firmware" "$ROOT/boot"; do
        if [ -d "$dir/$APP" ]; then echo "$dir/$APP"; return; fi
    done
    echo "no $APP/ folder on the boot partition (/boot/firmware or /boot)" >&2
    return 1
}

main() {
    if [ -e "$DONE" ]; then
        echo "already installed on first boot ($DONE)"
        return
    fi
    local src source_spec args=()
    src=$(boot_dir)
    [ -f "$src/install.sh" ] || { echo "$src/install.sh is missing" >&2; return 1; }

    if [ -f "$src/config.yaml" ] && [ ! -e /etc/$APP/config.yaml ]; then
        install -D -m 0644 "$src/config.yaml" /etc/$APP/config.yaml
        echo "configuration copied from $src/config.yaml"
    fi
    if [ -d "$src/credentials" ]; then
        install -d -m 0700 /etc/credstore
        local secret
        for secret in "$src"/credentials/*; do
            [ -f "$secret" ] || continue
            install -m 0600 "$secret" "/etc/credstore/$(basename "$secret")"
            rm -f "$secret"
            echo "secret $(basename "$secret") moved to /etc/credstore"
        done
    fi

    source_spec=""
    local wheel
    wheel=$(find "$src" -maxdepth 1 -name "$APP-*.whl" -print -quit)
    [ -n "$wheel" ] && source_spec=$wheel
    [ -s "$src/source" ] && source_spec=$(head -n1 "$src/source")
    if [ -z "$source_spec" ]; then
        # There is no TensorChicken on PyPI: say what the card needs instead of trying it.
        echo "nothing to install: put a wheel built from the checkout ($APP-*.whl, made with" \
             "'python3 -m pip wheel --no-deps -w dist .') or a file 'source' holding the" \
             "repository's git URL (git+https://...) in $src" >&2
        return 2
    fi
    [ -d "$src/models" ] && args+=(--mirror "$src/models")

    bash "$src/install.sh" --source "$source_spec" "${args[@]}"
    touch "$DONE"
    systemctl disable "$APP-firstboot.service" || true
    echo "TensorChicken installed on first boot"
}

main "$@"
