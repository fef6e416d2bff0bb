#!/usr/bin/env bash
# Builds composed-test/systemd:2, a Debian 12 image (with the host's libc6) that boots systemd as PID 1, for the tests
# that run composed under a real systemd (tests/systemd.rs). No registry is reachable: the root
# file system comes from debootstrap and is imported with `docker import`. Safe to run again.
set -euo pipefail
log() { printf 'setup-systemd-image: %s\n' "$*" >&2; }

if docker image inspect composed-test/systemd:2 >/dev/null 2>&1; then
  exit 0
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
log "debootstrap into $root"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,iproute2 \
  bookworm "$root" http://deb.debian.org/debian >/dev/null
# The host's binaries are linked against the host's glibc (Debian 13's, which docker.io from
# trixie brings along): the box gets the same libc6, or they would not run in it.
host_libc=$(dpkg-query -W -f='${Version}' libc6)
box_libc=$(chroot "$root" dpkg-query -W -f='${Version}' libc6)
if dpkg --compare-versions "$host_libc" gt "$box_libc"; then
  log "upgrading the box's libc6 from $box_libc to the host's $host_libc"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > "$root/etc/apt/sources.list.d/trixie.sources"
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > "$root/etc/apt/preferences.d/trixie"
  chroot "$root" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq -t trixie libc6 >/dev/null
  chroot "$root" apt-get clean
fi
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
log "importing composed-test/systemd:2"
tar -C "$root" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - composed-test/systemd:2 >/dev/null
