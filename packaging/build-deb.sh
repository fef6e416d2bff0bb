#!/usr/bin/env bash
# Builds the Debian package from this repository, with dpkg-deb alone (no cargo-deb to build
# first): both binaries, both units, the D-Bus policy, the `composed` group (sysusers.d),
# /etc/composed with a README, man pages and shell completions generated from the CLI.
#
#   packaging/build-deb.sh                    portable release build, written to target/debian/
#   packaging/build-deb.sh --bin-dir DIR      package the binaries already in DIR
#   packaging/build-deb.sh --out DIR --fast   another output directory; quick gzip (tests)
#
# The release build links against glibc 2.31 whatever the build host runs, so the package
# installs on Debian 11, Ubuntu 20.04 and everything newer: cargo-zigbuild with the target
# x86_64-unknown-linux-gnu.2.31. When cargo-zigbuild is not on PATH it is installed from PyPI
# (it brings zig) into target/zigbuild.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=""
out="$repo/target/debian"
compression=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --fast) compression=(-Zgzip -z1); shift ;;
    *) echo "build-deb.sh: unknown argument $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done
GLIBC_FLOOR=2.31

# cargo-zigbuild on PATH, else in target/zigbuild (installed there on first use).
find_zigbuild() {
  local venv="$repo/target/zigbuild"
  command -v cargo-zigbuild >/dev/null && return
  if [ ! -x "$venv/bin/cargo-zigbuild" ]; then
    echo "build-deb.sh: installing cargo-zigbuild (and zig) from PyPI into $venv" >&2
    python3 -m venv "$venv" && "$venv/bin/pip" install -q cargo-zigbuild || {
      echo "build-deb.sh: cannot install cargo-zigbuild; install it (pip install cargo-zigbuild, or cargo install cargo-zigbuild with zig on PATH) or pass --bin-dir" >&2
      exit 1
    }
  fi
  PATH="$venv/bin:$PATH"
}

built_portable=no
if [ -z "$bin_dir" ]; then
  built_portable=yes
  find_zigbuild
  triple="$(uname -m)-unknown-linux-gnu"
  cargo zigbuild --release --locked --manifest-path "$repo/Cargo.toml" --target "$triple.$GLIBC_FLOOR" >&2
  bin_dir="$repo/target/$triple/release"
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"

install -d -m755 "$stage/usr/bin"
for b in composed composectl; do
  # Debug info stays out of the package (a debug build shrinks from hundreds of MB to a few).
  objcopy --strip-debug "$bin_dir/$b" "$stage/usr/bin/$b"
  chmod 755 "$stage/usr/bin/$b"
done
install -D -m644 "$repo/units/composed.service" "$stage/usr/lib/systemd/system/composed.service"
install -D -m644 "$repo/units/composed@.service" "$stage/usr/lib/systemd/system/composed@.service"
install -D -m644 "$repo/packaging/dbus/io.composed.Composed1.conf" \
  "$stage/usr/share/dbus-1/system.d/io.composed.Composed1.conf"
install -D -m644 "$repo/packaging/debian/sysusers.conf" "$stage/usr/lib/sysusers.d/composed.conf"
install -D -m644 "$repo/packaging/debian/etc-composed-README" "$stage/etc/composed/README"
install -D -m644 "$repo/README.md" "$stage/usr/share/doc/composed/README.md"
install -D -m644 "$repo/packaging/debian/copyright" "$stage/usr/share/doc/composed/copyright"

generated="$stage/generated"
"$stage/usr/bin/composectl" generate "$generated"
install -D -m644 "$generated/man/composed.8" "$stage/usr/share/man/man8/composed.8"
install -D -m644 "$generated/man/composectl.1" "$stage/usr/share/man/man1/composectl.1"
gzip -9n "$stage/usr/share/man/man8/composed.8" "$stage/usr/share/man/man1/composectl.1"
install -D -m644 "$generated/completions/composectl" "$stage/usr/share/bash-completion/completions/composectl"
install -D -m644 "$generated/completions/_composectl" "$stage/usr/share/zsh/vendor-completions/_composectl"
install -D -m644 "$generated/completions/composectl.fish" \
  "$stage/usr/share/fish/vendor_completions.d/composectl.fish"
rm -rf "$generated"

# The newest glibc symbol version the binaries name is the libc6 they depend on (the loader
# wants even the versions of weak symbols).
glibc=$(objdump -T "$stage/usr/bin/composed" "$stage/usr/bin/composectl" \
  | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
if [ "$built_portable" = yes ] && [ "$(printf '%s\n%s\n' "$glibc" "$GLIBC_FLOOR" | sort -V | tail -n1)" != "$GLIBC_FLOOR" ]; then
  echo "build-deb.sh: the binaries need glibc $glibc, above the $GLIBC_FLOOR floor" >&2
  exit 1
fi
install -d -m755 "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@GLIBC@/$glibc/" \
  -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$stage" | cut -f1)/" \
  "$repo/packaging/debian/control" > "$stage/DEBIAN/control"
echo /etc/composed/README > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m755 "$repo/packaging/debian/$script" "$stage/DEBIAN/$script"
done

mkdir -p "$out"
deb="$out/composed_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compression[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"
