#!/usr/bin/env bash
# Installs and starts what composed's tests need on a Debian 12 machine with no engine:
# a Docker engine (Debian 13's docker.io), Docker Compose v2 for side-by-side checks, dbus,
# and the small local test images (no registry is reachable: busybox built from scratch).
# Safe to run again: every step is skipped when already done.
set -euo pipefail

log() { printf 'setup-engine: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "must run as root (it installs packages and starts dockerd)"
    exit 1
  fi
}

install_packages() {
  if command -v dockerd >/dev/null && command -v docker-compose >/dev/null \
    && command -v busybox >/dev/null && command -v dbus-daemon >/dev/null && command -v docker-registry >/dev/null; then
    return
  fi
  if [ ! -f /etc/apt/sources.list.d/trixie.sources ]; then
    cat > /etc/apt/sources.list.d/trixie.sources <<'X'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/trixie
  fi
  log "installing docker.io, docker-compose, busybox-static, dbus"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -t trixie docker.io containerd runc docker-compose >/dev/null
  apt-get install -y -qq busybox-static dbus docker-registry >/dev/null
}

start_engine() {
  if docker info >/dev/null 2>&1; then
    return
  fi
  log "starting dockerd"
  # The client in /usr/local/bin may be newer than the engine; the engine's own client is fine too.
  nohup dockerd > /var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      return
    fi
    sleep 0.5
  done
  log "dockerd did not answer within 30 s; its log:"
  tail -n 40 /var/log/dockerd.log >&2
  exit 1
}

# Images named like the seeds' (postgres:16, mreferre/yelb-ui:0.10, ...) but built locally: a
# busybox that sleeps until SIGTERM, then exits at once. No registry is reachable from here.
STANDIN_TAGS="mreferre/yelb-ui:0.10 mreferre/yelb-appserver:0.7 redis:4.0.2 mreferre/yelb-db:0.6
  postgres:16 postgres:15-alpine nginx:alpine mysql:8.0 composed-test/server:1"

build_test_images() {
  build_busybox
  # Rebuilt when this recipe changes (the label carries its version).
  if [ "$(docker image inspect -f '{{index .Config.Labels "composed-test.recipe"}}' composed-test/server:1 2>/dev/null)" = 2 ]; then
    return
  fi
  log "building the stand-in server image"
  local dir
  dir=$(mktemp -d)
  # The examples' healthchecks run these; a stand-in is ready as soon as it runs.
  printf '#!/bin/sh\nexit 0\n' > "$dir/ready"
  cat > "$dir/Dockerfile" <<'X'
FROM composed-test/busybox:1
LABEL composed-test.recipe=2
COPY ready /usr/local/bin/redis-cli
COPY ready /usr/local/bin/pg_isready
COPY ready /usr/local/bin/mysqladmin
ENV PATH=/usr/local/bin:/bin
CMD ["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]
X
  chmod 755 "$dir/ready"
  DOCKER_BUILDKIT=0 docker build -q -t composed-test/server:1 "$dir" >/dev/null
  rm -rf "$dir"
  for tag in $STANDIN_TAGS; do
    docker tag composed-test/server:1 "$tag"
  done
}

build_busybox() {
  if docker image inspect composed-test/busybox:1 >/dev/null 2>&1; then
    return
  fi
  log "building composed-test/busybox:1 from scratch"
  local dir
  dir=$(mktemp -d)
  cp "$(command -v busybox)" "$dir/busybox"
  cat > "$dir/Dockerfile" <<'X'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
X
  DOCKER_BUILDKIT=0 docker build -q -t composed-test/busybox:1 "$dir" >/dev/null
  rm -rf "$dir"
}

need_root
install_packages
start_engine
build_test_images
log "engine ready: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
