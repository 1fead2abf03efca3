#!/usr/bin/env bash
# Delayed and transactional messages for docs/benchmarks.md: Apogee vs the reference NameServer +
# Broker (Apache RocketMQ 5.3.3), same machine, same run, same client (the upstream Java client
# 5.3.3, e2e/java/client-compat).
#
#   e2e/bench/messaging.sh WORK_DIR            # build, run everything, print the tables
#   e2e/bench/messaging.sh --report WORK_DIR   # print the tables of an earlier run again
#
# For each broker in turn (BENCH_BROKERS, default "apogee reference"), started as broker.sh starts
# it (fresh store, loopback ports, ASYNC_MASTER, ASYNC_FLUSH, default delay levels: level 2 is
# 5 s on both), with a push consumer in the client JVM in every run:
#
# - for each of BENCH_THREADS (default "1 64"): `bench --consume` (plain synchronous sends), then
#   `bench --consume --transactional` (TransactionMQProducer, the local transaction commits at
#   once); 1 KiB bodies, BENCH_WARMUP_S (10) unrecorded, BENCH_DURATION_S (30) recorded, and the
#   consumer must receive every recorded message within BENCH_DRAIN_S (30);
# - `delay-bench` flat out with BENCH_DELAY_THREADS (64) threads, then at BENCH_DELAY_RATE (2000)
#   messages/s offered by BENCH_DELAY_RATE_THREADS (16) threads on a fixed schedule: 1 KiB bodies
#   with delay level BENCH_DELAY_LEVEL (2), whose delay BENCH_DELAY_LEVEL_MS (5000) the client is
#   told; lateness = arrival − (send start + that delay) per recorded message, and each must arrive
#   within the delay + BENCH_DRAIN_S after the last send (DelayBench.java).
#
# Sampling, windows and columns as in broker.sh (common.sh): CPU and RSS peaks over the recorded
# window; "other" is the CPU of everything but the servers and the client JVM. Results:
# WORK_DIR/results.tsv, logs per broker, markdown tables on stdout. Every loop is bounded.
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
warmup_s=${BENCH_WARMUP_S:-10}
duration_s=${BENCH_DURATION_S:-30}
drain_s=${BENCH_DRAIN_S:-30}
delay_threads=${BENCH_DELAY_THREADS:-64}
delay_rate=${BENCH_DELAY_RATE:-2000}
delay_rate_threads=${BENCH_DELAY_RATE_THREADS:-16}
delay_level=${BENCH_DELAY_LEVEL:-2}
delay_level_ms=${BENCH_DELAY_LEVEL_MS:-5000}

mkdir -p "$work"
work=$(cd "$work" && pwd)
. "$root/e2e/bench/common.sh"

results=$work/results.tsv

# record BROKER KIND THREADS RATE LOAD1: one results.tsv line from the last run_client ("none"
# for a figure the run does not have: tab-separated fields must not be empty for `read`).
record() {
  local recv missing e50= e99= v line=()
  if [ "$2" = delay ]; then
    recv=$(field received "$result")
    missing=$(field missing "$result")
  else
    recv=$(field e2e_received "$result")
    missing=$(awk -v s="$(field sent "$result")" -v r="$recv" 'BEGIN { print (s > r) ? s - r : 0 }')
    e50=$(field e2e_p50_us "$result")
    e99=$(field e2e_p99_us "$result")
  fi
  for v in "$1" "$2" "$3" "$4" "$5" "$(field tps "$result")" "$(field p50_us "$result")" \
    "$(field p99_us "$result")" "$(field p999_us "$result")" "$(field failed "$result")" \
    "$(field sent "$result")" "$recv" "$missing" "$e50" "$e99" \
    "$(field late_min_us "$result")" "$(field late_p50_us "$result")" \
    "$(field late_p99_us "$result")" "$(field late_max_us "$result")" "$(use broker 1)" \
    "$(use broker 2)" "$(use broker 3)" "$(use namesrv 1)" "$(use broker 4)" "$(use namesrv 4)" \
    "$(use client 4)" "$other"; do
    line+=("${v:-none}")
  done
  (IFS=$'\t'; echo "${line[*]}") >>"$results"
  log "$(tail -1 "$results")"
}

# Runs every broker in turn; writes results.tsv and machine.txt.
run_all() {
  local broker dir port ns_port namesrv t0 threads kind run load1 flags rate n
  printf 'broker\tkind\tthreads\trate\tload1\ttps\tp50_us\tp99_us\tp999_us\tfailed\tsent\treceived\tmissing\te2e_p50_us\te2e_p99_us\tlate_min_us\tlate_p50_us\tlate_p99_us\tlate_max_us\trss_kB\tanon_kB\tfile_kB\tns_rss_kB\tbroker_cpu\tns_cpu\tclient_cpu\tother_cpu\n' >"$results"
  describe_machine >"$work/machine.txt"
  log "machine: $(cat "$work/machine.txt")"
  for broker in $brokers; do
    wait_for_quiet
    dir=$work/$broker
    rm -rf "$dir"
    mkdir -p "$dir/home"
    pick_ports -2 0 1 10
    port=$base
    ns_port=$((base + 10))
    namesrv=127.0.0.1:$ns_port
    log "$broker: NameServer $namesrv, broker 127.0.0.1:$port (load $(cut -d' ' -f1 /proc/loadavg))"
    t0=$(date +%s%N)
    case $broker in
      apogee) start_apogee "$dir" "$ns_port" "$port" ASYNC_MASTER ;;
      reference)
        start_reference_namesrv "$dir" "$ns_port"
        start_reference_broker "$dir" bench-broker 0 ASYNC_MASTER "$namesrv" "$port"
        ;;
      *)
        echo "unknown broker $broker (apogee or reference)" >&2
        exit 2
        ;;
    esac
    await_ready "$dir/server.log" --namesrv "$namesrv" --broker "127.0.0.1:$port" --since "$t0" --timeout-s 120
    log "$broker serving: $ready"

    for threads in $threads_list; do
      for kind in plain tx; do
        run=$kind-${threads}t
        flags=(--consume)
        [ "$kind" = plain ] || flags+=(--transactional)
        load1=$(cut -d' ' -f1 /proc/loadavg)
        log "$broker $run (load $load1)"
        run_client "$dir" "$run" $((warmup_s + duration_s + drain_s + 120)) bench \
          --namesrv "$namesrv" --topic "Bench_${broker}_${kind}_${threads}t" --threads "$threads" \
          --size 1024 --queues 8 --warmup-ms $((warmup_s * 1000)) \
          --duration-ms $((duration_s * 1000)) --drain-ms $((drain_s * 1000)) \
          --label "$broker-$run" "${flags[@]}"
        [ -z "$result" ] || record "$broker" "$kind" "$threads" 0 "$load1"
      done
    done

    for rate in 0 "$delay_rate"; do
      n=$delay_threads
      [ "$rate" = 0 ] || n=$delay_rate_threads
      run=delay-$([ "$rate" = 0 ] && echo max || echo "$rate")-${n}t
      load1=$(cut -d' ' -f1 /proc/loadavg)
      log "$broker $run (load $load1)"
      run_client "$dir" "$run" $((warmup_s + duration_s + delay_level_ms / 1000 + drain_s + 120)) \
        delay-bench --namesrv "$namesrv" --topic "Delay_${broker}_${rate}" --threads "$n" \
        --size 1024 --queues 8 --level "$delay_level" --level-ms "$delay_level_ms" --rate "$rate" \
        --warmup-ms $((warmup_s * 1000)) --duration-ms $((duration_s * 1000)) \
        --drain-ms $((drain_s * 1000)) --label "$broker-$run"
      [ -z "$result" ] || record "$broker" delay "$n" "$rate" "$load1"
    done

    stop_servers "$dir"
    log "$broker stopped; store $(du -sh "$dir/store" 2>/dev/null | cut -f1)"
    # Stores are 2-3 GiB (preallocated segments); keep only the logs.
    [ -n "${BENCH_KEEP_STORES:-}" ] || rm -rf "$dir/store"
  done
}

# Prints the markdown tables from results.tsv.
report() {
  echo
  echo "Machine: $(cat "$work/machine.txt" 2>/dev/null)."
  echo "load = the 1-minute load average as each run started; other = CPU (cores) of everything but"
  echo "the servers and the client JVM; Apogee's broker is its standalone process, NameServer"
  echo "included; server CPU per msg = (broker + NameServer CPU) / msgs/s."
  echo
  echo "Plain vs transactional sends (push consumer in every run):"
  echo
  echo "| broker | send | threads | load | msgs/s | tx ÷ plain | send p50 | send p99 | send p999 | failed | received / sent | e2e p50 | e2e p99 | broker RSS peak (anon + file) MiB | CPU broker / namesrv / client / other (cores) | server CPU per msg |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' 'NR > 1 && $2 != "delay" { print }' "$results" |
    while IFS=$'\t' read -r b kind t _ l tps p50 p99 p999 failed sent recv _ e50 e99 _ _ _ _ rss anon file _ bc nc cc oc; do
      ratio=–
      if [ "$kind" = tx ]; then
        ratio=$(awk -F'\t' -v b="$b" -v t="$t" -v x="$tps" '$1 == b && $2 == "plain" && $3 == t && $6 > 0 { r = sprintf("%.2f", x / $6) } END { print r ? r : "–" }' "$results")
      fi
      per=$(awk -v c="$bc" -v n="$nc" -v r="$tps" 'BEGIN { if (r > 0) printf "%.0f µs", (c + n) * 1e6 / r; else print "–" }')
      echo "| $b | $kind | $t | $l | $tps | $ratio | $(ms "$p50") | $(ms "$p99") | $(ms "$p999") | $failed | $recv / $sent | $(ms "$e50") | $(ms "$e99") | $(mib "$rss") ($(mib "$anon") + $(mib "$file")) | $bc / $nc / $cc / $oc | $per |"
    done
  echo
  echo "Delayed sends, level $delay_level ($delay_level_ms ms); lateness = arrival − (send start + $delay_level_ms ms):"
  echo
  echo "| broker | offered | threads | load | sent msgs/s | send p50 | send p99 | failed | received / sent (missing) | lateness min | lateness p50 | lateness p99 | lateness max | broker RSS peak (anon + file) MiB | CPU broker / namesrv / client / other (cores) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' 'NR > 1 && $2 == "delay" { print }' "$results" |
    while IFS=$'\t' read -r b _ t rate l tps p50 p99 _ failed sent recv missing _ _ lmin l50 l99 lmax rss anon file _ bc nc cc oc; do
      offered=$([ "$rate" = 0 ] && echo "flat out" || echo "$rate/s")
      echo "| $b | $offered | $t | $l | $tps | $(ms "$p50") | $(ms "$p99") | $failed | $recv / $sent ($missing) | $(ms "$lmin") | $(ms "$l50") | $(ms "$l99") | $(ms "$lmax") | $(mib "$rss") ($(mib "$anon") + $(mib "$file")) | $bc / $nc / $cc / $oc |"
    done
}

# One line, so that bash has read the whole file before anything runs (editing the script during
# a run cannot change what the run does).
bench_main DelayBench; exit
