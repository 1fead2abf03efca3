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
# BENCH_QUIET_WAIT_S (0): before each broker, wait up to that long for a 1-minute load average
# below BENCH_QUIET_LOAD (1.5); BENCH_QUIET_STRICT=1 stops the script if it stays above. Server
# start-up, sampling and the build: common.sh.
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

mkdir -p "$work"
work=$(cd "$work" && pwd)
. "$root/e2e/bench/common.sh"

# Runs every broker in turn; writes results.tsv, ready.tsv and machine.txt.
run_all() {
  local broker dir namesrv_port broker_port namesrv t0 t1 mode threads run topic load1 consume_flag
  results=$work/results.tsv
  ready_tsv=$work/ready.tsv
  printf 'broker\tmode\tthreads\tload1\ttps\tp50_us\tp99_us\tp999_us\tfailed\te2e_p50_us\te2e_p99_us\te2e_received\tsent\trss_kB\tanon_kB\tfile_kB\tns_rss_kB\tbroker_cpu\tns_cpu\tclient_cpu\tother_cpu\n' >"$results"
  printf 'broker\tnamesrv_s\troute_s\tsend_s\tbroker_start_s\n' >"$ready_tsv"

  echo "$(nproc) cores, $(uname -r); 1-minute load average when the bench started: $(cut -d' ' -f1 /proc/loadavg)" \
    >"$work/machine.txt"
  log "machine: $(describe_machine)"

  for broker in $brokers; do
    wait_for_quiet
    dir=$work/$broker
    rm -rf "$dir"
    mkdir -p "$dir/home"
    # The broker's VIP channel, main and HA ports (p - 2, p, p + 1), the NameServer at p + 10.
    pick_ports -2 0 1 10
    broker_port=$base
    namesrv_port=$((base + 10))
    namesrv=127.0.0.1:$namesrv_port
    log "$broker: NameServer $namesrv, broker 127.0.0.1:$broker_port, store $dir/store"
    case $broker in
      apogee)
        t0=$(date +%s%N)
        start_apogee "$dir" "$namesrv_port" "$broker_port" ASYNC_MASTER
        await_ready "$dir/server.log" --namesrv "$namesrv" --broker "127.0.0.1:$broker_port" \
          --since "$t0" --timeout-s 60
        printf '%s\t%s\t%s\t%s\t%s\n' apogee "$(field namesrv_s "$ready")" "$(field route_s "$ready")" \
          "$(field send_s "$ready")" "0" >>"$ready_tsv"
        ;;
      reference)
        t0=$(date +%s%N)
        start_reference_namesrv "$dir" "$namesrv_port"
        t1=$(date +%s%N)
        start_reference_broker "$dir" bench-broker 0 ASYNC_MASTER "$namesrv" "$broker_port"
        await_ready "$dir/server.log" --namesrv "$namesrv" --broker "127.0.0.1:$broker_port" \
          --since "$t1" --timeout-s 120
        printf '%s\t%s\t%s\t%s\t%s\n' reference "$(field namesrv_s "$ns_ready")" \
          "$(field route_s "$ready")" "$(field send_s "$ready")" \
          "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" >>"$ready_tsv"
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
        run_client "$dir" "$run" $((warmup_s + duration_s + drain_s + 120)) bench \
          --namesrv "$namesrv" --topic "$topic" --threads "$threads" --size 1024 --queues 8 \
          --warmup-ms $((warmup_s * 1000)) --duration-ms $((duration_s * 1000)) \
          --drain-ms $((drain_s * 1000)) --label "$broker-$run" "${consume_flag[@]}"
        [ -n "$result" ] || continue
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
          "$broker" "$mode" "$threads" "$load1" "$(field tps "$result")" "$(field p50_us "$result")" \
          "$(field p99_us "$result")" "$(field p999_us "$result")" "$(field failed "$result")" \
          "$(field e2e_p50_us "$result")" "$(field e2e_p99_us "$result")" \
          "$(field e2e_received "$result")" "$(field sent "$result")" "$(use broker 1)" \
          "$(use broker 2)" "$(use broker 3)" "$(use namesrv 1)" "$(use broker 4)" \
          "$(use namesrv 4)" "$(use client 4)" "$other" >>"$results"
        log "$(tail -1 "$results")"
      done
    done

    stop_servers "$dir"
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

# One line, so that bash has read the whole file before anything runs (editing the script during
# a run cannot change what the run does).
bench_main Bench; exit
