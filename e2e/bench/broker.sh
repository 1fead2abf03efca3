#!/usr/bin/env bash
# Broker benchmark for docs/benchmarks.md: Apogee vs the reference NameServer + Broker (Apache
# RocketMQ 5.3.3), same machine, same run, same client and load tool.
#
#   e2e/bench/broker.sh WORK_DIR            # build, run everything, print the tables
#   e2e/bench/broker.sh --report WORK_DIR   # print the tables of an earlier run again
#
# For each broker in turn (BENCH_BROKERS, default "apogee reference"): a fresh store under
# WORK_DIR, loopback ports only, start the server(s) and time them until they serve
# (readyprobe: NameServer answers, TBW102 route present, a SEND_MESSAGE to the broker stored), then
# for each of BENCH_THREADS (default "1 64") and BENCH_MODES (default "consume produce": with and
# without a push consumer measuring end-to-end latency) one run of ClientCompat's `bench`
# (e2e/java/client-compat/src/main/java/dev/apogee/clientcompat/Bench.java): synchronous sends of
# 1 KiB bodies from N threads, BENCH_WARMUP_S (10) unrecorded then BENCH_DURATION_S (30) recorded,
# a fresh 8-queue topic per run. While it runs, /proc/<pid>/status (VmRSS, RssAnon, RssFile) and
# /proc/<pid>/stat (CPU) of every server process and of the client JVM are sampled every 0.5 s;
# peaks and CPU are taken over the recorded window. VmHWM is read before the broker is stopped.
# Results: WORK_DIR/results.tsv, WORK_DIR/ready.tsv, logs per broker (with the GC logs of the
# client and the reference broker JVMs), markdown tables on stdout.
#
# Both brokers: ASYNC_FLUSH, autoCreateTopicEnable, default 1 GiB CommitLog segments, default
# index sizes. The reference alone also gets waitTimeMillsInSendQueue=10000 and
# osPageCacheBusyTimeOutMills=10000 so that it queues instead of answering SYSTEM_BUSY on this
# shared machine (Apogee does not shed load). JVM flags: BENCH_CLIENT_JVM for the client (the same
# for both brokers), BENCH_REF_BROKER_JVM / BENCH_REF_NAMESRV_JVM for the reference's servers.
# Every loop is bounded: probes time out, the sampler ends a client that overruns its budget.
set -euo pipefail

report_only=false
if [ "${1:-}" = --report ]; then
  report_only=true
  shift
fi
work=${1:?usage: $0 [--report] WORK_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
brokers=${BENCH_BROKERS:-apogee reference}
threads_list=${BENCH_THREADS:-1 64}
modes=${BENCH_MODES:-consume produce}
warmup_s=${BENCH_WARMUP_S:-10}
duration_s=${BENCH_DURATION_S:-30}
drain_s=${BENCH_DRAIN_S:-30}
client_jvm=${BENCH_CLIENT_JVM:--Xms1g -Xmx1g -XX:+UseG1GC}
ref_broker_jvm=${BENCH_REF_BROKER_JVM:--Xms1g -Xmx1g -XX:+UseG1GC -XX:G1HeapRegionSize=16m -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30 -XX:SoftRefLRUPolicyMSPerMB=0 -XX:-OmitStackTraceInFastThrow}
ref_namesrv_jvm=${BENCH_REF_NAMESRV_JVM:--Xms256m -Xmx256m -XX:+UseG1GC}
export RUST_BACKTRACE=0
unset NAMESRV_ADDR

log() { echo "== $*" >&2; }

mkdir -p "$work"
work=$(cd "$work" && pwd)

tck=$(getconf CLK_TCK)

listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# A base port p with p-2, p, p+1 free (the reference broker's VIP channel, main and HA ports),
# and p+10 free for the NameServer; below the ephemeral range. Bounded tries.
pick_ports() {
  local try base
  for try in $(seq 100); do
    base=$((21000 + RANDOM % 9000))
    if ! listening $((base - 2)) && ! listening "$base" && ! listening $((base + 1)) &&
      ! listening $((base + 10)); then
      broker_port=$base
      namesrv_port=$((base + 10))
      return 0
    fi
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
ms() { awk -v u="$1" 'BEGIN { if (u == "" || u == "none") print "–"; else if (u < 1000) printf "%.0f µs", u; else printf "%.2f ms", u / 1000 }'; }

# Builds what the bench runs; sets apogee, probe, client_cp and ref_cp.
build() {
  log "building apogee, readyprobe, the Java client and the reference jars"
  cargo build --release --locked --manifest-path "$root/Cargo.toml" -p apogee-broker --bin apogee >&2
  cargo build --release --locked --manifest-path "$root/Cargo.toml" -p apogee-e2e --bin readyprobe >&2
  apogee=$root/target/release/apogee
  probe=$root/target/release/readyprobe
  client_cp=$(snapshot "$(bash "$root/e2e/java/client-compat/build.sh")" client)
  ref_cp=$(snapshot "$(bash "$root/e2e/java/reference-broker/build.sh")" reference)
  # A cache rebuilt from another checkout between build and copy would lack the bench.
  if ! unzip -l "$work"/classpath/client/*/client-compat-0.jar | grep -q 'clientcompat/Bench.class'; then
    echo "the client-compat jar has no Bench class (built from another checkout?); run again" >&2
    exit 1
  fi
}

# Runs every broker in turn; writes results.tsv, ready.tsv and machine.txt.
run_all() {
  results=$work/results.tsv
  ready_tsv=$work/ready.tsv
  printf 'broker\tmode\tthreads\tload1\ttps\tp50_us\tp99_us\tp999_us\tfailed\te2e_p50_us\te2e_p99_us\te2e_received\tsent\trss_kB\tanon_kB\tfile_kB\tns_rss_kB\tbroker_cpu\tns_cpu\tclient_cpu\tother_cpu\n' >"$results"
  printf 'broker\tnamesrv_s\troute_s\tsend_s\tbroker_start_s\n' >"$ready_tsv"

  echo "$(nproc) cores, $(uname -r); 1-minute load average when the bench started: $(cut -d' ' -f1 /proc/loadavg)" \
    >"$work/machine.txt"
  log "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"

  for broker in $brokers; do
    dir=$work/$broker
    rm -rf "$dir"
    mkdir -p "$dir/home"
    pick_ports
    namesrv=127.0.0.1:$namesrv_port
    log "$broker: NameServer $namesrv, broker 127.0.0.1:$broker_port, store $dir/store"
    case $broker in
      apogee)
        {
          echo "brokerClusterName=BenchCluster"
          echo "brokerName=bench-broker"
          echo "brokerId=0"
          echo "brokerRole=ASYNC_MASTER"
          echo "flushDiskType=ASYNC_FLUSH"
          echo "autoCreateTopicEnable=true"
        } >"$dir/broker.conf"
        t0=$(date +%s%N)
        HOME=$dir/home "$apogee" standalone --store "$dir/store" --namesrv-port "$namesrv_port" \
          --broker-port "$broker_port" --bind 127.0.0.1 --no-metrics -c "$dir/broker.conf" \
          >"$dir/server.log" 2>&1 &
        broker_pid=$!
        namesrv_pid=
        ready=$("$probe" --namesrv "$namesrv" --broker "127.0.0.1:$broker_port" --since "$t0" --timeout-s 60) || {
          echo "$ready" >&2
          tail -50 "$dir/server.log" >&2
          exit 1
        }
        printf '%s\t%s\t%s\t%s\t%s\n' apogee "$(field namesrv_s "$ready")" "$(field route_s "$ready")" \
          "$(field send_s "$ready")" "0" >>"$ready_tsv"
        procs=("broker:$broker_pid")
        ;;
      reference)
        printf 'listenPort=%s\nbindAddress=127.0.0.1\nkvConfigPath=%s\n' "$namesrv_port" \
          "$dir/kvConfig.json" >"$dir/namesrv.conf"
        {
          echo "brokerClusterName=BenchCluster"
          echo "brokerName=bench-broker"
          echo "brokerId=0"
          echo "brokerRole=ASYNC_MASTER"
          echo "flushDiskType=ASYNC_FLUSH"
          echo "autoCreateTopicEnable=true"
          echo "namesrvAddr=$namesrv"
          echo "listenPort=$broker_port"
          echo "bindAddress=127.0.0.1"
          echo "brokerIP1=127.0.0.1"
          echo "storePathRootDir=$dir/store"
          echo "storePathCommitLog=$dir/store/commitlog"
          echo "waitTimeMillsInSendQueue=10000"
          echo "osPageCacheBusyTimeOutMills=10000"
        } >"$dir/broker.conf"
        t0=$(date +%s%N)
        # shellcheck disable=SC2086 # the JVM flags are a list
        ROCKETMQ_HOME=$dir/home java $ref_namesrv_jvm -Duser.home="$dir/home" -cp "$ref_cp" \
          org.apache.rocketmq.namesrv.NamesrvStartup -c "$dir/namesrv.conf" \
          >"$dir/namesrv.log" 2>&1 </dev/null &
        namesrv_pid=$!
        ns_ready=$("$probe" --namesrv "$namesrv" --since "$t0" --timeout-s 60) || {
          echo "$ns_ready" >&2
          tail -50 "$dir/namesrv.log" >&2
          exit 1
        }
        t1=$(date +%s%N)
        # shellcheck disable=SC2086
        ROCKETMQ_HOME=$dir/home java $ref_broker_jvm -Xlog:gc:file="$dir/broker.gc.log" \
          -Duser.home="$dir/home" -cp "$ref_cp" \
          org.apache.rocketmq.broker.BrokerStartup -c "$dir/broker.conf" \
          >"$dir/server.log" 2>&1 </dev/null &
        broker_pid=$!
        ready=$("$probe" --namesrv "$namesrv" --broker "127.0.0.1:$broker_port" --since "$t1" --timeout-s 120) || {
          echo "$ready" >&2
          tail -50 "$dir/server.log" >&2
          stop_pid "$broker_pid"
          stop_pid "$namesrv_pid"
          exit 1
        }
        printf '%s\t%s\t%s\t%s\t%s\n' reference "$(field namesrv_s "$ns_ready")" \
          "$(field route_s "$ready")" "$(field send_s "$ready")" \
          "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" >>"$ready_tsv"
        procs=("broker:$broker_pid" "namesrv:$namesrv_pid")
        ;;
      *)
        echo "unknown broker $broker (apogee or reference)" >&2
        exit 2
        ;;
    esac
    log "$broker serving: $(tail -1 "$ready_tsv")"

    for mode in $modes; do
      for threads in $threads_list; do
        run=${mode}-${threads}t
        topic=Bench_${broker}_${run//-/_}
        load1=$(cut -d' ' -f1 /proc/loadavg)
        log "$broker $run (load $load1)"
        consume_flag=()
        [ "$mode" = consume ] && consume_flag=(--consume)
        # shellcheck disable=SC2086
        java $client_jvm -Xlog:gc:file="$dir/$run.gc.log" -Duser.home="$dir/home" -cp "$client_cp" \
          dev.apogee.clientcompat.Main bench \
          --namesrv "$namesrv" --topic "$topic" --threads "$threads" --size 1024 --queues 8 \
          --warmup-ms $((warmup_s * 1000)) --duration-ms $((duration_s * 1000)) \
          --drain-ms $((drain_s * 1000)) --label "$broker-$run" "${consume_flag[@]}" \
          >"$dir/$run.out" 2>"$dir/$run.err" </dev/null &
        client_pid=$!
        sample "$dir/$run.samples" "$client_pid" $((warmup_s + duration_s + drain_s + 120)) \
          "${procs[@]}" "client:$client_pid"
        status=0
        wait "$client_pid" || status=$?
        client_pid=
        result=$(grep '^RESULT ' "$dir/$run.out" || true)
        if [ -z "$result" ]; then
          echo "$broker $run: no RESULT (exit $status); stderr tail:" >&2
          tail -30 "$dir/$run.err" >&2
          continue
        fi
        [ "$status" = 0 ] || echo "$broker $run: exit status $status (failed sends or missed messages)" >&2
        from=$(sed -n 's/^PHASE name=measure at_ms=//p' "$dir/$run.out")
        to=$(sed -n 's/^PHASE name=drain at_ms=//p' "$dir/$run.out")
        read -r rss anon file bcpu < <(window "$dir/$run.samples" "$from" "$to" broker)
        read -r ns_rss _ _ ns_cpu < <(window "$dir/$run.samples" "$from" "$to" namesrv)
        read -r _ _ _ ccpu < <(window "$dir/$run.samples" "$from" "$to" client)
        read -r _ _ _ allcpu < <(window "$dir/$run.samples" "$from" "$to" all)
        other=$(awk -v a="$allcpu" -v b="$bcpu" -v n="$ns_cpu" -v c="$ccpu" 'BEGIN { printf "%.2f", a - b - n - c }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
          "$broker" "$mode" "$threads" "$load1" "$(field tps "$result")" "$(field p50_us "$result")" \
          "$(field p99_us "$result")" "$(field p999_us "$result")" "$(field failed "$result")" \
          "$(field e2e_p50_us "$result")" "$(field e2e_p99_us "$result")" \
          "$(field e2e_received "$result")" "$(field sent "$result")" "$rss" "$anon" "$file" \
          "$ns_rss" "$bcpu" "$ns_cpu" "$ccpu" "$other" >>"$results"
        log "$(tail -1 "$results")"
      done
    done

    for spec in "${procs[@]}"; do
      pid=${spec#*:}
      log "$broker ${spec%%:*} at the end: $(grep -E '^(VmHWM|VmRSS|RssAnon|RssFile)' "/proc/$pid/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
      grep -E '^(VmHWM|VmRSS|RssAnon|RssFile)' "/proc/$pid/status" >"$dir/${spec%%:*}.final-status" || true
    done
    stop_pid "$broker_pid"
    broker_pid=
    if [ -n "$namesrv_pid" ]; then
      stop_pid "$namesrv_pid"
      namesrv_pid=
    fi
    log "$broker stopped; store $(du -sh "$dir/store" 2>/dev/null | cut -f1)"
  done
}

# Prints the markdown tables from results.tsv and ready.tsv.
report() {
  local results=$work/results.tsv ready_tsv=$work/ready.tsv
  echo
  echo "Machine: $(cat "$work/machine.txt" 2>/dev/null)."
  echo "load = the 1-minute load average as each run started (it includes the previous run's own"
  echo "threads); other = CPU (cores) used by everything but the broker, NameServer and client JVMs;"
  echo "Apogee's broker row is its standalone process, NameServer included; server CPU per msg ="
  echo "(broker + NameServer CPU) / msgs/s."
  echo
  echo "| broker | consumer | threads | load | msgs/s | send p50 | send p99 | send p999 | failed | e2e p50 | e2e p99 | broker RSS peak (anon + file) MiB | NameServer RSS MiB | CPU broker / namesrv / client / other (cores) | server CPU per msg |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  tail -n +2 "$results" | while IFS=$'\t' read -r b mode t l tps p50 p99 p999 failed e50 e99 erecv sent rss anon file nsrss bc nc cc oc; do
    consumer=$([ "$mode" = consume ] && echo "push ($erecv/$sent)" || echo none)
    per=$(awk -v c="$bc" -v n="$nc" -v r="$tps" 'BEGIN { if (r > 0) printf "%.0f µs", (c + n) * 1e6 / r; else print "–" }')
    echo "| $b | $consumer | $t | $l | $tps | $(ms "$p50") | $(ms "$p99") | $(ms "$p999") | $failed | $(ms "$e50") | $(ms "$e99") | $(mib "$rss") ($(mib "$anon") + $(mib "$file")) | $(mib "$nsrss") | $bc / $nc / $cc / $oc | $per |"
  done
  echo
  echo "| broker | NameServer start → answering | broker start → TBW102 route | broker start → first send stored | first process start → serving |"
  echo "|---|---|---|---|---|"
  tail -n +2 "$ready_tsv" | while IFS=$'\t' read -r b ns route send start; do
    total=$(awk -v s="$start" -v r="$route" -v m="$send" 'BEGIN { printf "%.3f", s + (r > m ? r : m) }')
    echo "| $b | $ns s | $route s | $send s | $total s |"
  done
}

# Whatever ends the script, no server or client it started outlives it.
cleanup() {
  local pid
  for pid in ${client_pid:-} ${broker_pid:-} ${namesrv_pid:-}; do
    stop_pid "$pid"
  done
}

main() {
  if $report_only; then
    report
    return
  fi
  trap cleanup EXIT
  trap 'exit 143' TERM INT
  build
  run_all
  report
}

# One line, so that bash has read the whole file before anything runs (editing the script during
# a run cannot change what the run does).
main; exit
