#!/usr/bin/env bash
# Builds StoreCompat (Apache RocketMQ's DefaultMessageStore driven as a test oracle, see pom.xml)
# and prints, as its only stdout line, the classpath to run it with.
#
# Everything it writes lives outside the work tree, in ${APOGEE_CACHE:-$HOME/.cache/apogee}:
#   m2/            the Maven local repository (Maven Central is the only network access)
#   store-compat/  the build; skipped when the jar is newer than pom.xml, src/ and this script
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${APOGEE_CACHE:-$HOME/.cache/apogee}
out=$cache/store-compat
jar=$out/target/store-compat-0.jar
deps=$out/target/dependency

for tool in java javac mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "store-compat/build.sh: '$tool' is not on PATH. The reference-store compatibility tests" \
      "need a JDK 17 (java, javac) and Maven 3.8+, e.g. apt-get install openjdk-17-jdk-headless maven" >&2
    exit 127
  fi
done

mkdir -p "$out"
# Test binaries may build concurrently; the second waits and then finds the jar fresh.
exec 9>"$out/.lock"
flock 9

# Reused only when built from these very sources (see e2e/source_key.sh).
. "$here/../../source_key.sh"
key=$(source_key "$here" pom.xml src build.sh)
fresh() {
  [ -f "$jar" ] && [ "$(cat "$out/source-key" 2>/dev/null)" = "$key" ]
}

if ! fresh; then
  # From scratch: a stale dependency/ would put two versions of a library on the classpath.
  rm -rf "$out/target"
  mvn -q -B -f "$here/pom.xml" \
    -Dmaven.repo.local="$cache/m2" \
    -Dcompat.build.dir="$out/target" \
    package dependency:copy-dependencies >&2
  # The jar plugin keeps an up-to-date jar's old mtime; freshness is judged against this run.
  touch "$jar"
  echo "$key" > "$out/source-key"
fi

echo "$jar:$deps/*"
