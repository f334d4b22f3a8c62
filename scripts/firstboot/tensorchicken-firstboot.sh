#!/usr/bin/env bash
# First boot, no keyboard: install TensorChicken from the SD card's boot partition.
#
# Run by tensorchicken-firstboot.service once the network is up (installed there by firstrun.sh
# on Bookworm images, or by cloud-init's user-data on newer ones). It reads the folder
# tensorchicken/ on the boot partition:
#   install.sh          the installer (scripts/install.sh), required
#   source              optional: one line, what to install (a pip requirement or git URL);
#                       default: a *.whl in this folder, else 'tensorchicken' from PyPI
#   config.yaml         optional: your configuration, copied to /etc/tensorchicken/ if absent
#   credentials/NAME    optional: secrets (mqtt_password, twitter_*), moved to /etc/credstore/
#                       and deleted from the boot partition, which anyone with the card can read
#   models/             optional: model files, used instead of downloading them
# On success it disables itself; on failure systemd retries it (network not ready, mirror down).
set -euo pipefail

APP=tensorchicken
DONE=/var/lib/$APP-firstboot.done

boot_dir() {
    local dir
    for dir in /boot/firmware /boot; do
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

    source_spec=$APP
    local wheel
    wheel=$(find "$src" -maxdepth 1 -name "$APP-*.whl" -print -quit)
    [ -n "$wheel" ] && source_spec=$wheel
    [ -s "$src/source" ] && source_spec=$(head -n1 "$src/source")
    [ -d "$src/models" ] && args+=(--mirror "$src/models")

    bash "$src/install.sh" --source "$source_spec" "${args[@]}"
    touch "$DONE"
    systemctl disable "$APP-firstboot.service" || true
    echo "TensorChicken installed on first boot"
}

main "$@"
