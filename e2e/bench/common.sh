# Shared by the broker benchmarks (broker.sh, messaging.sh, replication.sh); sourced, not run.
# The caller sets `root` (the checkout) and `work` (an absolute directory) first.
#
# Servers run on loopback ports only, with fresh stores under the directory each start gets;
# every process started is recorded in `procs` (name:pid, sampled during runs) and stopped by
# stop_servers or, whatever ends the script, by cleanup. Every wait is bounded.
#
# JVM flags: BENCH_CLIENT_JVM for the client (the same for both brokers), BENCH_REF_BROKER_JVM /
# BENCH_REF_NAMESRV_JVM for the reference's servers (its slaves get the broker flags).

client_jvm=${BENCH_CLIENT_JVM:--Xms1g -Xmx1g -XX:+UseG1GC}
ref_broker_jvm=${BENCH_REF_BROKER_JVM:--Xms1g -Xmx1g -XX:+UseG1GC -XX:G1HeapRegionSize=16m -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30 -XX:SoftRefLRUPolicyMSPerMB=0 -XX:-OmitStackTraceInFastThrow}
ref_namesrv_jvm=${BENCH_REF_NAMESRV_JVM:--Xms256m -Xmx256m -XX:+UseG1GC}
export RUST_BACKTRACE=0
unset NAMESRV_ADDR
tck=$(getconf CLK_TCK)
procs=()
client_pid=

log() { echo "== $*" >&2; }

listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# pick_ports OFFSET...: a base port with base + every OFFSET free, below the ephemeral range; sets
# `base`. Bounded tries.
pick_ports() {
  local try offset busy
  for try in $(seq 100); do
    base=$((21000 + RANDOM % 9000))
    busy=false
    for offset in "$@"; do
      if listening $((base + offset)); then
        busy=true
        break
      fi
    done
    $busy || return 0
  done
  echo "no free loopback ports found in 100 tries" >&2
  exit 1
}

# Stops a process this script started: TERM, then KILL after 30 s.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# sample OUT CLIENT_PID MAX_SECONDS NAME:PID...: every 0.5 s until the client exits, one line per
# process, "epoch_ms name VmRSS_kB RssAnon_kB RssFile_kB cpu_ticks", and one named "all" with the
# whole machine's busy ticks (/proc/stat), to tell what else ran. A client still running after
# MAX_SECONDS is stopped.
sample() {
  local out=$1 client=$2 max=$3 i spec name pid
  shift 3
  for ((i = 0; i < max * 2; i++)); do
    kill -0 "$client" 2>/dev/null || return 0
    for spec in "$@"; do
      name=${spec%%:*}
      pid=${spec#*:}
      [ -r "/proc/$pid/status" ] || continue
      awk -v now="$(date +%s%3N)" -v name="$name" \
        -v ticks="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)" '
        $1 == "VmRSS:" { rss = $2 } $1 == "RssAnon:" { anon = $2 } $1 == "RssFile:" { file = $2 }
        END { print now, name, rss + 0, anon + 0, file + 0, ticks }' "/proc/$pid/status" >>"$out" 2>/dev/null || true
    done
    awk -v now="$(date +%s%3N)" '$1 == "cpu" { print now, "all", 0, 0, 0, $2 + $3 + $4 + $7 + $8 + $9 }' \
      /proc/stat >>"$out"
    sleep 0.5
  done
  echo "client overran its ${max} s budget; stopping it" >&2
  stop_pid "$client"
}

# window SAMPLES FROM_MS TO_MS NAME: "peak_rss_kB peak_anon_kB peak_file_kB cpu_cores" of NAME in
# the window.
window() {
  awk -v from="$2" -v to="$3" -v name="$4" -v tck="$tck" '
    $2 == name && $1 >= from && $1 <= to {
      if ($3 > rss) rss = $3; if ($4 > anon) anon = $4; if ($5 > file) file = $5
      if (n == 0) { t0 = $1; c0 = $6 } t1 = $1; c1 = $6; n++
    }
    END {
      cpu = (t1 > t0) ? (c1 - c0) / tck / ((t1 - t0) / 1000) : 0
      printf "%d %d %d %.2f\n", rss, anon, file, cpu
    }' "$1"
}

field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2"; }

# The build caches are shared by every checkout on the machine and rebuilt (removed first) when
# another checkout's sources differ, so the bench runs from private copies of both classpaths.
snapshot() { # CLASSPATH NAME: copies each entry into WORK_DIR/classpath/NAME, prints the new classpath
  local entry dest i=0 out=()
  rm -rf "$work/classpath/$2"
  IFS=: read -r -a entries <<<"$1"
  for entry in "${entries[@]}"; do
    dest=$work/classpath/$2/$i
    mkdir -p "$dest"
    case $entry in
      */\*) cp -r "${entry%/\*}/." "$dest/"; out+=("$dest/*") ;;
      *.jar) cp "$entry" "$dest/"; out+=("$dest/$(basename "$entry")") ;;
      *) cp -r "$entry/." "$dest/"; out+=("$dest") ;;
    esac
    i=$((i + 1))
  done
  (IFS=:; echo "${out[*]}")
}

mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == 0) print "–"; else printf "%.0f", k / 1024 }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "" || u == "none") print "–"; else if (u < 1000 && u > -1000) printf "%.0f µs", u; else printf "%.2f ms", u / 1000 }'; }

# build CLASS: builds what the bench runs (in CARGO_TARGET_DIR when set); sets apogee, probe,
# client_cp and ref_cp, and checks that the client jar has CLASS.
build() {
  local target=${CARGO_TARGET_DIR:-$root/target}
  log "building apogee, readyprobe, the Java client and the reference jars"
  cargo build --release --locked --manifest-path "$root/Cargo.toml" -p apogee-broker --bin apogee >&2
  cargo build --release --locked --manifest-path "$root/Cargo.toml" -p apogee-e2e --bin readyprobe >&2
  apogee=$target/release/apogee
  probe=$target/release/readyprobe
  client_cp=$(snapshot "$(bash "$root/e2e/java/client-compat/build.sh")" client)
  ref_cp=$(snapshot "$(bash "$root/e2e/java/reference-broker/build.sh")" reference)
  # A cache rebuilt from another checkout between build and copy would lack the bench. (grep
  # reads the whole listing: with -q it could exit first and fail the pipe under pipefail.)
  if ! unzip -l "$work"/classpath/client/*/client-compat-0.jar | grep "clientcompat/$1.class" >/dev/null; then
    echo "the client-compat jar has no $1 class (built from another checkout?); run again" >&2
    exit 1
  fi
}

# The machine and what was built, for the report.
describe_machine() {
  echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r);" \
    "1-minute load average when the bench started: $(cut -d' ' -f1 /proc/loadavg);" \
    "checkout $(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' with local changes')"
}

# broker_lines NAME ID ROLE PORT NAMESRV STORE: the settings both brokers get, in broker.conf keys.
broker_lines() {
  echo "brokerClusterName=BenchCluster"
  echo "brokerName=$1"
  echo "brokerId=$2"
  echo "brokerRole=$3"
  echo "flushDiskType=ASYNC_FLUSH"
  echo "autoCreateTopicEnable=true"
  echo "namesrvAddr=$5"
  echo "listenPort=$4"
  echo "brokerIP1=127.0.0.1"
  echo "brokerIP2=127.0.0.1"
  echo "storePathRootDir=$6"
  echo "storePathCommitLog=$6/commitlog"
}

# start_apogee DIR NAMESRV_PORT BROKER_PORT ROLE [LINE...]: `apogee standalone` (NameServer and
# master in one process, both bound to 127.0.0.1) with broker.conf = the common lines + LINEs.
# Not waited for.
start_apogee() {
  local dir=$1 ns_port=$2 port=$3 role=$4
  shift 4
  # standalone owns listenPort, namesrvAddr and the store root.
  { broker_lines bench-broker 0 "$role" "$port" "127.0.0.1:$ns_port" "$dir/store" |
      grep -v -e '^listenPort=' -e '^namesrvAddr=' -e '^storePath'; printf '%s\n' "$@"; } >"$dir/broker.conf"
  HOME=$dir/home "$apogee" standalone --store "$dir/store" --namesrv-port "$ns_port" \
    --broker-port "$port" --bind 127.0.0.1 --no-metrics -c "$dir/broker.conf" \
    >"$dir/server.log" 2>&1 </dev/null &
  procs+=("broker:$!")
}

# start_apogee_slave DIR NAMESRV PORT: `apogee broker` as brokerId 1 (SLAVE) of bench-broker,
# bound to 127.0.0.1, haListenPort PORT + 1, with slave.conf, slave.log, store-slave/ and
# home-slave/ in DIR. Not waited for.
start_apogee_slave() {
  local dir=$1
  mkdir -p "$dir/home-slave"
  broker_lines bench-broker 1 SLAVE "$3" "$2" "$dir/store-slave" >"$dir/slave.conf"
  HOME=$dir/home-slave "$apogee" broker -c "$dir/slave.conf" --bind 127.0.0.1 \
    >"$dir/slave.log" 2>&1 </dev/null &
  procs+=("slave:$!")
}

# start_reference_namesrv DIR PORT: the reference NameServer, waited for until it answers; sets
# ns_ready (readyprobe's line).
start_reference_namesrv() {
  local dir=$1 t0
  printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s\n' "$2" "$dir/kvConfig.json" \
    >"$dir/namesrv.conf"
  t0=$(date +%s%N)
  # shellcheck disable=SC2086 # the JVM flags are a list
  ROCKETMQ_HOME=$dir/home java $ref_namesrv_jvm -Duser.home="$dir/home" -cp "$ref_cp" \
    org.apache.rocketmq.namesrv.NamesrvStartup -c "$dir/namesrv.conf" \
    >"$dir/namesrv.log" 2>&1 </dev/null &
  procs+=("namesrv:$!")
  await_ready "$dir/namesrv.log" --namesrv "127.0.0.1:$2" --since "$t0" --timeout-s 60
  ns_ready=$ready
}

# start_reference_broker DIR NAME ID ROLE NAMESRV PORT [LINE...]: a reference broker JVM with
# broker.conf = the common lines + LINEs. brokerId 0 is "broker" in procs, with DIR/broker.conf,
# server.log, broker.gc.log, store/ and home/; any other id is "slave", with slave.conf,
# slave.log, slave.gc.log, store-slave/ and home-slave/. It queues instead of answering
# SYSTEM_BUSY on a shared machine (waitTimeMillsInSendQueue, osPageCacheBusyTimeOutMills). Not
# waited for.
start_reference_broker() {
  local dir=$1 name=$2 id=$3 role=$4 ns=$5 port=$6 what=broker log_name=server suffix=
  shift 6
  if [ "$id" != 0 ]; then
    what=slave log_name=slave suffix=-slave
  fi
  mkdir -p "$dir/home$suffix"
  {
    broker_lines "$name" "$id" "$role" "$port" "$ns" "$dir/store$suffix"
    echo "bindAddress=127.0.0.1"
    echo "waitTimeMillsInSendQueue=10000"
    echo "osPageCacheBusyTimeOutMills=10000"
    printf '%s\n' "$@"
  } >"$dir/$what.conf"
  # shellcheck disable=SC2086
  ROCKETMQ_HOME=$dir/home$suffix java $ref_broker_jvm -Xlog:gc:file="$dir/$what.gc.log" \
    -Duser.home="$dir/home$suffix" -cp "$ref_cp" \
    org.apache.rocketmq.broker.BrokerStartup -c "$dir/$what.conf" \
    >"$dir/$log_name.log" 2>&1 </dev/null &
  procs+=("$what:$!")
}

# await_ready LOG READYPROBE_ARGS...: runs readyprobe; sets ready (its line). On failure: the
# probe's line and the log's tail, then exit (cleanup stops what was started).
await_ready() {
  local log_file=$1
  shift
  ready=$("$probe" "$@") || {
    echo "$ready" >&2
    tail -50 "$log_file" >&2
    exit 1
  }
}

# run_client DIR RUN BUDGET_S SUBCOMMAND ARGS...: the Java client driver, sampled with every
# process in procs; sets result (its RESULT line, empty if none), status, and for the recorded
# window (PHASE measure to drain) usage[NAME]="rss anon file cpu" per process name in procs and
# for client, and other (CPU of everything else).
declare -A usage
run_client() {
  local dir=$1 run=$2 budget=$3 from to spec name total=0 sum=0
  shift 3
  # shellcheck disable=SC2086
  java $client_jvm -Xlog:gc:file="$dir/$run.gc.log" -Duser.home="$dir/home" -cp "$client_cp" \
    dev.apogee.clientcompat.Main "$@" >"$dir/$run.out" 2>"$dir/$run.err" </dev/null &
  client_pid=$!
  sample "$dir/$run.samples" "$client_pid" "$budget" "${procs[@]}" "client:$client_pid"
  status=0
  wait "$client_pid" || status=$?
  client_pid=
  result=$(grep '^RESULT ' "$dir/$run.out" || true)
  usage=()
  if [ -z "$result" ]; then
    echo "$run: no RESULT (exit $status); stderr tail:" >&2
    tail -30 "$dir/$run.err" >&2
    return
  fi
  [ "$status" = 0 ] || echo "$run: exit status $status (failed sends or missed messages)" >&2
  from=$(sed -n 's/^PHASE name=measure at_ms=//p' "$dir/$run.out")
  to=$(sed -n 's/^PHASE name=drain at_ms=//p' "$dir/$run.out")
  for spec in "${procs[@]}" client:0; do
    name=${spec%%:*}
    usage[$name]=$(window "$dir/$run.samples" "$from" "$to" "$name")
    sum=$(awk -v s="$sum" -v u="${usage[$name]}" 'BEGIN { split(u, f, " "); print s + f[4] }')
  done
  total=$(window "$dir/$run.samples" "$from" "$to" all | cut -d' ' -f4)
  other=$(awk -v a="$total" -v s="$sum" 'BEGIN { printf "%.2f", a - s }')
}

# use NAME FIELD: one figure of usage[NAME] (1 rss, 2 anon, 3 file kB, 4 cpu cores); zero for a
# process that does not exist.
use() { local u=${usage[$1]:-0 0 0 0.00}; cut -d' ' -f"$2" <<<"$u"; }

# stop_proc DIR NAME: records the memory of server NAME (procs) at the end in
# DIR/NAME.final-status, stops it and drops it from procs.
stop_proc() {
  local dir=$1 name=$2 spec kept=()
  for spec in "${procs[@]}"; do
    if [ "${spec%%:*}" != "$name" ]; then
      kept+=("$spec")
      continue
    fi
    grep -E '^(VmHWM|VmRSS|RssAnon|RssFile)' "/proc/${spec#*:}/status" >"$dir/$name.final-status" 2>/dev/null || true
    log "$name at the end: $(tr -s ' \t' ' ' <"$dir/$name.final-status" | tr '\n' ' ')"
    stop_pid "${spec#*:}"
  done
  procs=("${kept[@]}")
}

# stop_servers DIR: stop_proc for every server, last started first.
stop_servers() {
  local i
  for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
    stop_proc "$1" "${procs[i]%%:*}"
  done
}

# Whatever ends the script, no server or client it started outlives it.
cleanup() {
  local spec
  [ -z "${client_pid:-}" ] || stop_pid "$client_pid"
  for spec in "${procs[@]}"; do
    stop_pid "${spec#*:}"
  done
}

# wait_for_quiet: before a broker's measured runs, waits (up to BENCH_QUIET_WAIT_S, default 0)
# in 30 s steps for a 1-minute load average below BENCH_QUIET_LOAD (1.5). Still busy after that:
# with BENCH_QUIET_STRICT set the script stops, otherwise it goes on and says so (the tables
# record the load and the other CPU of every run).
wait_for_quiet() {
  local waited=0 limit=${BENCH_QUIET_WAIT_S:-0} below=${BENCH_QUIET_LOAD:-1.5}
  while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v b="$below" 'BEGIN { exit !(l >= b) }'; do
    if [ "$waited" -ge "$limit" ]; then
      if [ -n "${BENCH_QUIET_STRICT:-}" ]; then
        echo "load average still $(cut -d' ' -f1 /proc/loadavg) after ${waited} s; stopping" >&2
        exit 3
      fi
      [ "$limit" = 0 ] || log "load average still $(cut -d' ' -f1 /proc/loadavg) after ${waited} s; going on"
      return 0
    fi
    sleep 30
    waited=$((waited + 30))
  done
  log "load average $(cut -d' ' -f1 /proc/loadavg)"
}

# The body every bench script ends with: with --report, the tables of an earlier run again;
# otherwise build the client driver with CLASS, run everything (the script's run_all) and print
# the tables (its report), stopping whatever is left on exit.
bench_main() {
  if $report_only; then
    report
    return
  fi
  trap cleanup EXIT
  trap 'exit 143' TERM INT
  build "$1"
  run_all
  report
}
