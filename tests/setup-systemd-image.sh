#!/usr/bin/env bash
# Builds composed-test/systemd:3, a stock Debian 12 image that boots systemd as PID 1, for the
# tests that run composed under a real systemd (tests/systemd.rs, tests/package.rs). Nothing in it
# is upgraded: what runs there runs on the Debian 12 servers users have. No registry is
# reachable: the root file system comes from debootstrap and is imported with `docker import`.
# Safe to run again.
set -euo pipefail
log() { printf 'setup-systemd-image: %s\n' "$*" >&2; }

if docker image inspect composed-test/systemd:3 >/dev/null 2>&1; then
  exit 0
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
log "debootstrap into $root"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,iproute2 \
  bookworm "$root" http://deb.debian.org/debian >/dev/null
# The engine runs outside the box: a stand-in docker.service satisfies Requires=docker.service.
cat > "$root/etc/systemd/system/docker.service" <<'X'
[Unit]
Description=stand-in for the host's Docker engine (reached through the mounted socket)
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
X
ln -sf /etc/systemd/system/docker.service "$root/etc/systemd/system/multi-user.target.wants/docker.service"
# Nothing a test does not need: no getty on a container console.
rm -f "$root/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true
log "importing composed-test/systemd:3"
tar -C "$root" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - composed-test/systemd:3 >/dev/null
