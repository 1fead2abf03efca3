#!/usr/bin/env bash
# Resolves the upstream admin tool, mqadmin (org.apache.rocketmq:rocketmq-tools, the version pinned
# in pom.xml, unmodified), and prints, as its only stdout line, the classpath to run it with:
#
#   java -cp "$(e2e/java/mqadmin/build.sh)" org.apache.rocketmq.tools.command.MQAdminStartup \
#     topicList -n 127.0.0.1:9876
#
# The classpath starts with conf/, whose rmq.logback.xml sends mqadmin's own logging to stderr.
# mqadmin needs no ROCKETMQ_HOME: without it, it looks for its ACL file at "null/conf/tools.yml",
# finds none, warns "Failed to parse configuration to enable ACL" and sends requests unsigned.
#
# Everything it writes lives outside the work tree, in ${APOGEE_CACHE:-$HOME/.cache/apogee}:
#   m2/        the Maven local repository, shared with store-compat (Maven Central is the only
#              network access)
#   mqadmin/   the resolved jars; skipped when they are newer than pom.xml and this script
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${APOGEE_CACHE:-$HOME/.cache/apogee}
out=$cache/mqadmin
deps=$out/target/dependency
stamp=$out/target/resolved

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "mqadmin/build.sh: '$tool' is not on PATH. The mqadmin compatibility tests need a" \
      "Java 17 runtime and Maven 3.8+, e.g. apt-get install openjdk-17-jdk-headless maven" >&2
    exit 127
  fi
done

mkdir -p "$out"
# Test binaries may run this concurrently; the second waits and then finds the jars fresh.
exec 9>"$out/.lock"
flock 9

# Reused only when built from these very sources (see e2e/source_key.sh).
. "$here/../../source_key.sh"
key=$(source_key "$here" pom.xml build.sh)
fresh() {
  [ -f "$stamp" ] && [ -d "$deps" ] && [ "$(cat "$out/source-key" 2>/dev/null)" = "$key" ]
}

if ! fresh; then
  # From scratch: a stale dependency/ would put two versions of a library on the classpath.
  rm -rf "$out/target"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" \
    -Dmaven.repo.local="$cache/m2" \
    -Dcompat.build.dir="$out/target" \
    dependency:copy-dependencies >&2
  compgen -G "$deps/rocketmq-tools-*.jar" >/dev/null || {
    echo "mqadmin/build.sh: Maven did not produce rocketmq-tools in $deps" >&2
    exit 1
  }
  touch "$stamp"
  echo "$key" > "$out/source-key"
fi

echo "$here/conf:$deps/*"
