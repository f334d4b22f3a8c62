#!/bin/bash
# Bookworm images: Raspberry Pi Imager's first-boot hook, extended to install TensorChicken.
#
# Imager writes its own firstrun.sh (user, Wi-Fi, SSH) and adds
# "systemd.run=/boot/firstrun.sh" to cmdline.txt. After flashing, on the boot partition:
#   1. rename Imager's firstrun.sh to firstrun-imager.sh
#   2. copy this file as firstrun.sh, and the folder tensorchicken/ (see
#      tensorchicken-firstboot.sh) holding install.sh, tensorchicken-firstboot.sh and
#      tensorchicken-firstboot.service
# This runs early, before the network: it runs Imager's script, then only installs and enables
# a unit that does the real install once the network is up (and reboots, as Imager's does).
set -euo pipefail

BOOT=/boot
[ -d /boot/firmware/tensorchicken ] && BOOT=/boot/firmware
SRC=$BOOT/tensorchicken

if [ -f "$BOOT/firstrun-imager.sh" ]; then
    # Imager's script ends by removing /boot/firstrun.sh and the systemd.run entry of
    # cmdline.txt; bash has this file open already, so it carries on.
    bash "$BOOT/firstrun-imager.sh" || echo "Imager's firstrun script failed: $?" >&2
    rm -f "$BOOT/firstrun-imager.sh"
fi

install -m 0755 "$SRC/tensorchicken-firstboot.sh" /usr/local/sbin/tensorchicken-firstboot
install -m 0644 "$SRC/tensorchicken-firstboot.service" /etc/systemd/system/
systemctl enable tensorchicken-firstboot.service

# Without Imager's script, clean up as it would have.
rm -f "$BOOT/firstrun.sh"
sed -i 's| systemd.run[^ ]*||g' "$BOOT/cmdline.txt"
exit 0
