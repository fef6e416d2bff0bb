#!/usr/bin/env bash
# Installs and starts what composed's tests need on a Debian 12 machine with no engine: a current
# Docker engine and Docker Compose 2.40.3 (the reference for side-by-side checks), dbus, a
# registry, and the small local test images (no registry is reachable: busybox built from
# scratch). Safe to run again: every step is skipped when already done.
#
# The host's base system is left alone. Debian 12's own docker.io (20.10) is too old, and
# installing a newer release's docker.io with apt would upgrade libc6, python3 and perl with it.
# So the engine, containerd and Docker Compose are downloaded from Debian unstable (they need
# only libc6 >= 2.34) and unpacked with `dpkg-deb -x` into $ENGINE_ROOT, with links in
# /usr/local; everything else is Debian 12's own packages.
set -euo pipefail

ENGINE_ROOT=/opt/composed-test/engine
# What Debian unstable ships (November 2026). Docker Compose is pinned: it is the reference the
# side-by-side tests compare against.
ENGINE_PACKAGES="docker.io containerd docker-compose=2.40.3-3"
BOOKWORM_PACKAGES="runc tini iptables busybox-static dbus docker-registry apache2-utils debootstrap"

log() { printf 'setup-engine: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "must run as root (it installs packages and starts dockerd)"
    exit 1
  fi
}

# Debian unstable as an apt source that apt never installs from (priority -10): it is only used
# by `apt-get download`.
add_unstable_source() {
  local sources=/etc/apt/sources.list.d/composed-test-sid.sources
  [ -f "$sources" ] && return
  cat > "$sources" <<'X'
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
  printf 'Package: *\nPin: release n=sid\nPin-Priority: -10\n' > /etc/apt/preferences.d/composed-test-sid
}

install_bookworm_packages() {
  local missing=()
  for pkg in $BOOKWORM_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing Debian 12 packages: ${missing[*]}"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

APT_UPDATED=
apt_update_once() {
  [ -n "$APT_UPDATED" ] && return
  add_unstable_source
  apt-get update -qq
  APT_UPDATED=1
}

# Downloads NAME[=VERSION] from unstable (NAME/sid when no version is given) and unpacks it.
unpack_from_unstable() {
  local spec=$1 dir=$2
  case "$spec" in
    *=*) ;;
    *) spec="$spec/sid" ;;
  esac
  (cd "$dir" && apt-get download -qq "$spec" 2>/dev/null)
}

install_engine() {
  local stamp="$ENGINE_ROOT/.packages"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ENGINE_PACKAGES" ] && command -v dockerd >/dev/null; then
    return
  fi
  log "unpacking from Debian unstable into $ENGINE_ROOT: $ENGINE_PACKAGES"
  add_unstable_source
  apt_update_once
  local dl
  dl=$(mktemp -d)
  for spec in $ENGINE_PACKAGES; do
    unpack_from_unstable "$spec" "$dl"
  done
  command -v docker >/dev/null || unpack_from_unstable docker-cli "$dl"
  rm -rf "$ENGINE_ROOT"
  mkdir -p "$ENGINE_ROOT"
  for deb in "$dl"/*.deb; do
    dpkg-deb -x "$deb" "$ENGINE_ROOT"
  done
  rm -rf "$dl"
  link_engine
  printf '%s' "$ENGINE_PACKAGES" > "$stamp"
}

# Links in /usr/local: dockerd finds containerd, docker-proxy and docker-init on PATH; the docker
# CLI finds the compose plugin in /usr/local/lib/docker/cli-plugins.
link_engine() {
  local bin
  for bin in "$ENGINE_ROOT"/usr/bin/* "$ENGINE_ROOT"/usr/sbin/*; do
    ln -sfn "$bin" "/usr/local/bin/$(basename "$bin")"
  done
  # docker.io's docker-init points at tini-static, which Debian 12's tini package provides.
  ln -sfn /usr/bin/tini-static /usr/local/bin/docker-init
  mkdir -p /usr/local/lib/docker/cli-plugins
  ln -sfn "$ENGINE_ROOT/usr/libexec/docker/cli-plugins/docker-compose" \
    /usr/local/lib/docker/cli-plugins/docker-compose
}

start_engine() {
  if docker info >/dev/null 2>&1; then
    return
  fi
  log "starting dockerd"
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
  build_volume_image
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

# An image that keeps its data in a VOLUME, as the official database images do.
build_volume_image() {
  docker image inspect composed-test/volume:1 >/dev/null 2>&1 && return
  log "building composed-test/volume:1"
  local dir
  dir=$(mktemp -d)
  cat > "$dir/Dockerfile" <<'X'
FROM composed-test/busybox:1
VOLUME /data
CMD ["sh", "-c", "trap 'exit 0' TERM; sleep 2147483647 & wait"]
X
  DOCKER_BUILDKIT=0 docker build -q -t composed-test/volume:1 "$dir" >/dev/null
  rm -rf "$dir"
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
install_bookworm_packages
install_engine
start_engine
build_test_images
log "engine ready: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), $(docker-compose version --short 2>/dev/null | sed 's/^/Docker Compose /')"
