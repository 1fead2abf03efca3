#!/usr/bin/env bash
# Builds ClientCompat (the upstream Java client, rocketmq-client at the version pinned in pom.xml,
# driven from the command line; see src/main/java/dev/apogee/clientcompat/Main.java) and prints,
# as its only stdout line, the classpath to run it with:
#
#   java -cp "$(e2e/java/client-compat/build.sh)" dev.apogee.clientcompat.Main \
#     produce --namesrv 127.0.0.1:9876 --topic T --count 10 --mode sync
#
# The classpath starts with conf/, whose rmq.logback.xml sends the client's logging to stderr.
# Run it with -Duser.home pointing at a scratch directory: the client keeps nothing there in
# clustering mode, but a broadcasting consumer would write ~/.rocketmq_offsets.
#
# Everything it writes lives outside the work tree, in ${APOGEE_CACHE:-$HOME/.cache/apogee}:
#   m2/             the Maven local repository, shared with the other e2e/java tools (Maven
#                   Central is the only network access)
#   client-compat/  the build; skipped when the jar is newer than pom.xml, src/, conf/ and this
#                   script
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${APOGEE_CACHE:-$HOME/.cache/apogee}
out=$cache/client-compat
jar=$out/target/client-compat-0.jar
deps=$out/target/dependency

for tool in java javac mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "client-compat/build.sh: '$tool' is not on PATH. The Java client compatibility tests" \
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
key=$(source_key "$here" pom.xml src conf build.sh)
fresh() {
  [ -f "$jar" ] && [ -d "$deps" ] && [ "$(cat "$out/source-key" 2>/dev/null)" = "$key" ]
}

if ! fresh; then
  # From scratch: a stale dependency/ would put two versions of a library on the classpath.
  rm -rf "$out/target"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" \
    -Dmaven.repo.local="$cache/m2" \
    -Dcompat.build.dir="$out/target" \
    package dependency:copy-dependencies >&2
  compgen -G "$deps/rocketmq-client-*.jar" >/dev/null || {
    echo "client-compat/build.sh: Maven did not produce rocketmq-client in $deps" >&2
    exit 1
  }
  # The jar plugin keeps an up-to-date jar's old mtime; freshness is judged against this run.
  touch "$jar"
  echo "$key" > "$out/source-key"
fi

echo "$here/conf:$jar:$deps/*"
