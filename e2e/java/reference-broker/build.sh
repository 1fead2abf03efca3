#!/usr/bin/env bash
# Resolves the reference NameServer and Broker (org.apache.rocketmq:rocketmq-namesrv and
# rocketmq-broker, the version pinned in pom.xml, unmodified) and prints, as its only stdout line,
# the classpath to run them with. e2e/tests/suite/java_client.rs starts them as host processes:
#
#   ROCKETMQ_HOME=$tmp/home java -Duser.home=$tmp/home -cp "$cp" \
#     org.apache.rocketmq.namesrv.NamesrvStartup -c $tmp/namesrv.conf
#   ROCKETMQ_HOME=$tmp/home java -Duser.home=$tmp/home -cp "$cp" \
#     org.apache.rocketmq.broker.BrokerStartup -c $tmp/broker.conf
#
# What they need to start offline, found by running them (5.3.3):
# - ROCKETMQ_HOME (or -Drocketmq.home.dir) must be set, for both: without it each prints "Please set
#   the ROCKETMQ_HOME variable ..." and exits. An empty directory is enough when the config file
#   is given with -c.
# - user.home: the NameServer keeps its KV config in ~/namesrv/kvConfig.json (unless kvConfigPath
#   says otherwise) and the broker its store in ~/store (unless storePathRootDir does); the
#   harness points user.home, kvConfigPath and the store paths into a scratch directory, so
#   nothing lands in the real home.
# - Logging: both jars ship a logback file (rmq.namesrv.logback.xml, rmq.broker.logback.xml)
#   writing rolling files under ~/logs/rocketmqlogs, and with both jars on one classpath both
#   processes pick the broker's. The classpath starts with conf/, whose rmq.logback.xml wins the
#   configurator's lookup and sends WARN and above to stderr instead.
# - Network: loopback only. namesrv.conf needs listenPort (bindAddress=127.0.0.1 keeps it off
#   other interfaces); broker.conf needs namesrvAddr, listenPort, bindAddress, brokerIP1=127.0.0.1
#   and the store paths. The broker also listens on listenPort - 2 (its "fast" remoting server,
#   the clients' VIP channel) and on listenPort + 1 (HA, on every interface whatever bindAddress
#   says), so the harness must find all three ports free.
# - Readiness: "boot success" on the broker's stdout does not mean the NameServer knows it. The
#   broker registers only with the NameServers its remoting client has already found reachable
#   (BrokerOuterAPI.registerBrokerAll asks getAvailableNameSrvList(), filled by a check that
#   starts, asynchronously, with the client); when startup reaches its registration first, that
#   registration goes nowhere, and the next one comes 10 s after startup. The harness therefore
#   waits until the NameServer answers a route for TBW102.
# On a 2-core machine the NameServer boots in about 2 s and the broker in 3-8 s (a 16 MiB
# commit-log segment, a 256 MiB heap), plus those 10 s more often than not.
#
# Everything it writes lives outside the work tree, in ${APOGEE_CACHE:-$HOME/.cache/apogee}:
#   m2/                the Maven local repository, shared with the other e2e/java tools (Maven
#                      Central is the only network access)
#   reference-broker/  the resolved jars; skipped when they are newer than pom.xml and this script
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${APOGEE_CACHE:-$HOME/.cache/apogee}
out=$cache/reference-broker
deps=$out/target/dependency
stamp=$out/target/resolved

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "reference-broker/build.sh: '$tool' is not on PATH. The Java client compatibility tests" \
      "need a Java 17 runtime and Maven 3.8+, e.g. apt-get install openjdk-17-jdk-headless maven" >&2
    exit 127
  fi
done

mkdir -p "$out"
# Test binaries may run this concurrently; the second waits and then finds the jars fresh.
exec 9>"$out/.lock"
flock 9

# Reused only when built from these very sources (see e2e/source_key.sh).
. "$here/../../source_key.sh"
key=$(source_key "$here" pom.xml build.sh conf)
fresh() {
  [ -f "$stamp" ] && [ "$(cat "$out/source-key" 2>/dev/null)" = "$key" ]
}

if ! fresh; then
  # From scratch: a stale dependency/ would put two versions of a library on the classpath.
  rm -rf "$out/target"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" \
    -Dmaven.repo.local="$cache/m2" \
    -Dcompat.build.dir="$out/target" \
    dependency:copy-dependencies >&2
  for artifact in rocketmq-namesrv rocketmq-broker; do
    compgen -G "$deps/$artifact-*.jar" >/dev/null || {
      echo "reference-broker/build.sh: Maven did not produce $artifact in $deps" >&2
      exit 1
    }
  done
  touch "$stamp"
  echo "$key" > "$out/source-key"
fi

echo "$here/conf:$deps/*"
