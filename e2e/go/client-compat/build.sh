#!/usr/bin/env bash
# Builds client-compat, our driver of the upstream Go client for Apache RocketMQ
# (github.com/apache/rocketmq-client-go/v2 at the version pinned in go.mod, unmodified; go.sum
# pins every module's hash), and prints, as its only stdout line, the path of the binary:
#
#   "$(e2e/go/client-compat/build.sh)" produce -namesrv 127.0.0.1:9876 -topic T -count 3
#
# Everything it writes lives outside the work tree, in ${APOGEE_CACHE:-$HOME/.cache/apogee}:
#   go/mod, go/build, go/path   GOMODCACHE, GOCACHE and GOPATH (the Go module proxy is the only
#                               network access, and only while go/mod is cold)
#   go-client-compat/           the binary; the build is skipped when it is newer than the
#                               sources, go.mod, go.sum and this script
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${APOGEE_CACHE:-$HOME/.cache/apogee}
out=$cache/go-client-compat
bin=$out/client-compat

if ! command -v go >/dev/null 2>&1; then
  echo "go-client-compat/build.sh: 'go' is not on PATH. The Go client compatibility tests need" \
    "Go 1.22 or newer, and the Go module proxy while $cache/go/mod is cold" >&2
  exit 127
fi

mkdir -p "$out"
# Test binaries may run this concurrently; the second waits and then finds the binary fresh.
exec 9>"$out/.lock"
flock 9

# Reused only when built from these very sources (see e2e/source_key.sh).
. "$here/../../source_key.sh"
key=$(source_key "$here" .)
fresh() {
  [ -x "$bin" ] && [ "$(cat "$out/source-key" 2>/dev/null)" = "$key" ]
}

if ! fresh; then
  export GOMODCACHE=$cache/go/mod GOCACHE=$cache/go/build GOPATH=$cache/go/path
  # The toolchain on PATH, never a downloaded one; go.mod and go.sum as committed (a build that
  # would change them fails); a module cache that rm -rf can clean; no C toolchain needed.
  export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -modcacherw -buildvcs=false" CGO_ENABLED=0
  (cd "$here" && go build -trimpath -o "$bin.tmp" .) >&2
  mv -f "$bin.tmp" "$bin"
  echo "$key" > "$out/source-key"
fi

echo "$bin"
