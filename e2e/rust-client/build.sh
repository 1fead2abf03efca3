#!/usr/bin/env bash
# Builds rust-client-compat (this directory: the upstream Rust RocketMQ client, rocketmq-client-rust
# at the version pinned in Cargo.toml and Cargo.lock, unmodified, driven from the command line)
# and prints, as its only stdout line, the path of the binary:
#
#   "$(e2e/rust-client/build.sh)" produce --namesrv 127.0.0.1:9876 --topic T --count 10 --mode sync
#
# This is a standalone Cargo project (its own empty [workspace]), never a member of Apogee's
# workspace: the client's ~350 crates stay out of every workspace build. crates.io is the only
# network access, on the first build.
#
# Everything it writes lives outside the work tree, in ${APOGEE_CACHE:-$HOME/.cache/apogee}:
#   rust-client-compat/cargo/       Cargo's target directory, shared by every checkout (builds
#                                   take turns: a lock)
#   rust-client-compat/bin/<key>/   the binary built from the sources whose content hash is <key>
#                                   (see e2e/source_key.sh), copied out of the target directory:
#                                   another checkout building other sources meanwhile rebuilds
#                                   the target directory's binary, never this one. Binaries
#                                   unused for a day are removed.
#
# It builds the dev profile with debug info off: the cheapest cold build (about 8 minutes on two
# busy cores; Cargo.toml has the measurements), and an unoptimised client is fast enough here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${APOGEE_CACHE:-$HOME/.cache/apogee}
out=$cache/rust-client-compat
export CARGO_TARGET_DIR=$out/cargo
built=$CARGO_TARGET_DIR/debug/rust-client-compat

for tool in cargo cc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "rust-client/build.sh: '$tool' is not on PATH. The Rust client compatibility tests need" \
      "the project's Rust toolchain (rust-toolchain.toml) and a C compiler (aws-lc-sys, zstd-sys)," \
      "e.g. apt-get install build-essential" >&2
    exit 127
  fi
done

mkdir -p "$out"
# Test binaries may run this concurrently; the second waits and then finds the binary fresh.
exec 9>"$out/.lock"
flock 9

# Reused only when built from these very sources (see e2e/source_key.sh).
. "$here/../source_key.sh"
key=$(source_key "$here" Cargo.toml Cargo.lock src build.sh)
bin=$out/bin/$key/rust-client-compat

if [ ! -x "$bin" ]; then
  # From this directory, so rustup picks the toolchain pinned in the repository's
  # rust-toolchain.toml whatever the caller's working directory. --locked: the versions in
  # Cargo.lock, or an error (never a silent re-resolve).
  cd "$here"
  # Every checkout builds into the one target directory, but Cargo keeps this package's
  # freshness per checkout path while writing its binary to one path: another checkout's build
  # leaves a binary this one's records call fresh. So this package is always rebuilt (seconds;
  # its dependencies stay built).
  cargo clean --locked --manifest-path "$here/Cargo.toml" --package rust-client-compat >&2
  cargo build --locked --manifest-path "$here/Cargo.toml" --bin rust-client-compat >&2
  [ -x "$built" ] || {
    echo "rust-client/build.sh: cargo did not produce $built" >&2
    exit 1
  }
  mkdir -p "$out/bin/$key"
  cp "$built" "$bin.tmp"
  mv -f "$bin.tmp" "$bin"
fi
# Marks it used; binaries of other sources unused for a day go.
touch "$bin"
find "$out/bin" -mindepth 2 -maxdepth 2 -name rust-client-compat -mtime +0 -printf '%h\0' |
  xargs -0 -r rm -rf

echo "$bin"
