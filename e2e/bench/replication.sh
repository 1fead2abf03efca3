#!/usr/bin/env bash
# Replication for docs/benchmarks.md: ASYNC_MASTER vs SYNC_MASTER, Apogee vs the reference
# (Apache RocketMQ 5.3.3) master/slave pair, same machine, same run, same client (the upstream
# Java client 5.3.3, e2e/java/client-compat).
#
#   e2e/bench/replication.sh WORK_DIR            # build, run everything, print the tables
#   e2e/bench/replication.sh --report WORK_DIR   # print the tables of an earlier run again
#
# For each broker in turn (BENCH_BROKERS, default "apogee reference") and each master role
# (BENCH_ROLES, default "ASYNC_MASTER SYNC_MASTER"), fresh stores and loopback ports:
#
# - Apogee: `apogee standalone` (NameServer + master, bound to 127.0.0.1; `apogee namesrv` has no
#   bind option) and an `apogee broker` slave (brokerId=1, brokerRole=SLAVE, the same
#   brokerName, bound to 127.0.0.1), which learns the master's HA address (haListenPort =
#   listenPort + 1) from the NameServer;
# - the reference: a NameServer JVM, a master JVM and a slave JVM, which also learns the master's
#   HA address from the NameServer. (With haMasterAddress in its broker.conf, a 5.3.3 slave's HA
#   client kept trying "master null" for two minutes, and the NameServer's answer was not used
#   either; so it is not set.) It connects 10-30 s after start: its first registration usually
#   misses the NameServer (see e2e/java/reference-broker/build.sh), and the HA client retries
#   every 5 s.
#
# Both masters get totalReplicas=2 and inSyncReplicas=2: the reference 5.x SYNC_MASTER waits for
# inSyncReplicas copies (itself included) and, with the default 1, answers without any slave.
# Apogee's SYNC_MASTER waits for one slave either way. Everything else as broker.sh (ASYNC_FLUSH,
# default segments, the reference's SYSTEM_BUSY thresholds raised, the same JVM flags; the
# reference slave gets the reference broker's).
#
# Readiness: readyprobe waits for the master's TBW102 route, the slave is started, then readyprobe
# waits until a send to the master is stored (a SYNC_MASTER's only once a slave has it) and the
# slave's commitLogMaxOffset has reached the master's. Then, for each of BENCH_THREADS (default
# "64") and BENCH_MODES (default "produce"; "consume" adds a push consumer), one run of `bench`:
# 1 KiB bodies, BENCH_WARMUP_S (10) unrecorded, BENCH_DURATION_S (30) recorded. After the runs the
# slave is stopped and one more message is sent (`send`): a SYNC_MASTER that really waits for its
# slave refuses it (FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE); its status is in the table.
#
# Sampling as in broker.sh (common.sh), for the master, the slave, the NameServer and the client.
# Results: WORK_DIR/results.tsv, WORK_DIR/ready.tsv, logs per broker and role, markdown tables on
# stdout. Every loop is bounded.
set -euo pipefail

report_only=false
if [ "${1:-}" = --report ]; then
  report_only=true
  shift
fi
work=${1:?usage: $0 [--report] WORK_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
brokers=${BENCH_BROKERS:-apogee reference}
roles=${BENCH_ROLES:-ASYNC_MASTER SYNC_MASTER}
threads_list=${BENCH_THREADS:-64}
modes=${BENCH_MODES:-produce}
warmup_s=${BENCH_WARMUP_S:-10}
duration_s=${BENCH_DURATION_S:-30}
drain_s=${BENCH_DRAIN_S:-30}

mkdir -p "$work"
work=$(cd "$work" && pwd)
. "$root/e2e/bench/common.sh"

results=$work/results.tsv
ready_tsv=$work/ready.tsv

# start_pair BROKER ROLE DIR: NameServer, master and slave, ready and replicating; sets namesrv
# (host:port) and appends to ready.tsv.
start_pair() {
  local broker=$1 role=$2 dir=$3 port ns_port slave_port t0 t1 ns_s route start=0
  # Master: VIP, main and HA ports (p - 2, p, p + 1); slave: p + 2, p + 4, p + 5; NameServer p + 10.
  pick_ports -2 0 1 2 4 5 10
  port=$base
  slave_port=$((base + 4))
  ns_port=$((base + 10))
  namesrv=127.0.0.1:$ns_port
  log "$broker $role: NameServer $namesrv, master 127.0.0.1:$port, slave 127.0.0.1:$slave_port"
  t0=$(date +%s%N)
  t1=$t0
  case $broker in
    apogee)
      start_apogee "$dir" "$ns_port" "$port" "$role" totalReplicas=2 inSyncReplicas=2
      ;;
    reference)
      start_reference_namesrv "$dir" "$ns_port"
      t1=$(date +%s%N)
      start=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
      start_reference_broker "$dir" bench-broker 0 "$role" "$namesrv" "$port" totalReplicas=2 inSyncReplicas=2
      ;;
    *)
      echo "unknown broker $broker (apogee or reference)" >&2
      exit 2
      ;;
  esac
  # The slave learns its master from the NameServer (Apogee), so the master registers first.
  await_ready "$dir/server.log" --namesrv "$namesrv" --route --since "$t1" --timeout-s 120
  route=$(field route_s "$ready")
  ns_s=$(field namesrv_s "${ns_ready:-$ready}")
  case $broker in
    apogee) start_apogee_slave "$dir" "$namesrv" "$slave_port" ;;
    reference)
      start_reference_broker "$dir" bench-broker 1 SLAVE "$namesrv" "$slave_port"
      ;;
  esac
  await_ready "$dir/slave.log" --namesrv "$namesrv" --broker "127.0.0.1:$port" \
    --slave "127.0.0.1:$slave_port" --since "$t1" --timeout-s 120
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$broker" "$role" "$ns_s" "$route" \
    "$(field send_s "$ready")" "$(field slave_s "$ready")" "$start" >>"$ready_tsv"
  log "$broker $role serving and replicating: $ready"
  ns_ready=
}

# refused_without_slave DIR: stops the slave, sends one message, sets refused to its SendStatus.
refused_without_slave() {
  local dir=$1
  stop_proc "$dir" slave
  # shellcheck disable=SC2086 # the JVM flags are a list
  java $client_jvm -Duser.home="$dir/home" -cp "$client_cp" dev.apogee.clientcompat.Main send \
    --namesrv "$namesrv" --topic Bench_no_slave --key-prefix no-slave --shards a --rounds 1 \
    --timeout-ms 60000 >"$dir/no-slave.out" 2>"$dir/no-slave.err" </dev/null || true
  refused=$(sed -n 's/^SENT .* status=\([A-Z_]*\).*/\1/p' "$dir/no-slave.out")
  refused=${refused:-error}
}

run_all() {
  local broker role dir mode threads run load1 flags v line refused
  printf 'broker\trole\tmode\tthreads\tload1\ttps\tp50_us\tp99_us\tp999_us\tfailed\tsent\trss_kB\tanon_kB\tfile_kB\tslave_rss_kB\tslave_anon_kB\tslave_file_kB\tns_rss_kB\tbroker_cpu\tslave_cpu\tns_cpu\tclient_cpu\tother_cpu\n' >"$results"
  printf 'broker\trole\tnamesrv_s\troute_s\tsend_s\tslave_s\tbroker_start_s\n' >"$ready_tsv"
  : >"$work/refused.tsv"
  describe_machine >"$work/machine.txt"
  log "machine: $(cat "$work/machine.txt")"
  for broker in $brokers; do
    wait_for_quiet
    for role in $roles; do
      dir=$work/$broker-$role
      rm -rf "$dir"
      mkdir -p "$dir/home"
      start_pair "$broker" "$role" "$dir"
      for mode in $modes; do
        for threads in $threads_list; do
          run=${mode}-${threads}t
          flags=()
          [ "$mode" = consume ] && flags=(--consume)
          load1=$(cut -d' ' -f1 /proc/loadavg)
          log "$broker $role $run (load $load1)"
          run_client "$dir" "$run" $((warmup_s + duration_s + drain_s + 120)) bench \
            --namesrv "$namesrv" --topic "Bench_${broker}_${role}_${mode}_${threads}t" \
            --threads "$threads" --size 1024 --queues 8 --warmup-ms $((warmup_s * 1000)) \
            --duration-ms $((duration_s * 1000)) --drain-ms $((drain_s * 1000)) \
            --label "$broker-$role-$run" "${flags[@]}"
          [ -n "$result" ] || continue
          line=()
          for v in "$broker" "$role" "$mode" "$threads" "$load1" "$(field tps "$result")" \
            "$(field p50_us "$result")" "$(field p99_us "$result")" "$(field p999_us "$result")" \
            "$(field failed "$result")" "$(field sent "$result")" "$(use broker 1)" "$(use broker 2)" \
            "$(use broker 3)" "$(use slave 1)" "$(use slave 2)" "$(use slave 3)" "$(use namesrv 1)" \
            "$(use broker 4)" "$(use slave 4)" "$(use namesrv 4)" "$(use client 4)" "$other"; do
            line+=("${v:-none}")
          done
          (IFS=$'\t'; echo "${line[*]}") >>"$results"
          log "$(tail -1 "$results")"
        done
      done
      refused_without_slave "$dir"
      printf '%s\t%s\t%s\n' "$broker" "$role" "$refused" >>"$work/refused.tsv"
      log "$broker $role: a send with the slave stopped: $refused"
      stop_servers "$dir"
      # Stores are 2-3 GiB per broker (preallocated segments); keep only the logs.
      [ -n "${BENCH_KEEP_STORES:-}" ] || rm -rf "$dir"/store*
    done
  done
}

# Prints the markdown tables from results.tsv, ready.tsv and refused.tsv.
report() {
  local b role mode t tps p99 a s ra rs pa ps
  echo
  echo "Machine: $(cat "$work/machine.txt" 2>/dev/null)."
  echo "load = the 1-minute load average as each run started; other = CPU (cores) of everything but"
  echo "the master, slave, NameServer and client JVM; Apogee's master is its standalone process,"
  echo "NameServer included; server CPU per msg = (master + slave + NameServer CPU) / msgs/s."
  echo
  echo "| broker | role | consumer | threads | load | msgs/s | send p50 | send p99 | send p999 | failed | master RSS peak (anon + file) MiB | slave RSS peak (anon + file) MiB | NameServer RSS MiB | CPU master / slave / namesrv / client / other (cores) | server CPU per msg | send with the slave stopped |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  tail -n +2 "$results" | while IFS=$'\t' read -r b role mode t l tps p50 p99 p999 failed _ rss anon file srss sanon sfile nsrss bc sc nc cc oc; do
    per=$(awk -v c="$bc" -v s="$sc" -v n="$nc" -v r="$tps" 'BEGIN { if (r > 0) printf "%.0f µs", (c + s + n) * 1e6 / r; else print "–" }')
    refused=$(awk -F'\t' -v b="$b" -v r="$role" '$1 == b && $2 == r { print $3 }' "$work/refused.tsv")
    consumer=$([ "$mode" = consume ] && echo push || echo none)
    echo "| $b | $role | $consumer | $t | $l | $tps | $(ms "$p50") | $(ms "$p99") | $(ms "$p999") | $failed | $(mib "$rss") ($(mib "$anon") + $(mib "$file")) | $(mib "$srss") ($(mib "$sanon") + $(mib "$sfile")) | $(mib "$nsrss") | $bc / $sc / $nc / $cc / $oc | $per | ${refused:-–} |"
  done
  echo
  echo "| broker | consumer | threads | ASYNC msgs/s | SYNC msgs/s | SYNC ÷ ASYNC | ASYNC send p99 | SYNC send p99 |"
  echo "|---|---|---|---|---|---|---|---|"
  # get BROKER ROLE MODE THREADS COLUMN: one figure of results.tsv.
  get() { awk -F'\t' -v b="$1" -v r="$2" -v m="$3" -v t="$4" -v c="$5" '$1 == b && $2 == r && $3 == m && $4 == t { print $c }' "$results"; }
  tail -n +2 "$results" | cut -f1,3,4 | sort -u | while IFS=$'\t' read -r b mode t; do
    a=$(get "$b" ASYNC_MASTER "$mode" "$t" 6)
    s=$(get "$b" SYNC_MASTER "$mode" "$t" 6)
    ratio=$(awk -v a="$a" -v s="$s" 'BEGIN { if (a > 0 && s > 0) printf "%.0f %%", 100 * s / a; else print "–" }')
    echo "| $b | $([ "$mode" = consume ] && echo push || echo none) | $t | ${a:-–} | ${s:-–} | $ratio | $(ms "$(get "$b" ASYNC_MASTER "$mode" "$t" 8)") | $(ms "$(get "$b" SYNC_MASTER "$mode" "$t" 8)") |"
  done
  echo
  echo "| role | consumer | threads | Apogee msgs/s | reference msgs/s | Apogee ÷ reference | send p99 Apogee / reference |"
  echo "|---|---|---|---|---|---|---|"
  tail -n +2 "$results" | cut -f2,3,4 | sort -u | while IFS=$'\t' read -r role mode t; do
    a=$(get apogee "$role" "$mode" "$t" 6)
    ra=$(get reference "$role" "$mode" "$t" 6)
    ratio=$(awk -v a="$a" -v r="$ra" 'BEGIN { if (a > 0 && r > 0) printf "%.2f", a / r; else print "–" }')
    echo "| $role | $([ "$mode" = consume ] && echo push || echo none) | $t | ${a:-–} | ${ra:-–} | $ratio | $(ms "$(get apogee "$role" "$mode" "$t" 8)") / $(ms "$(get reference "$role" "$mode" "$t" 8)") |"
  done
  echo
  echo "| broker | role | NameServer start → answering | master start → TBW102 route | master start → send stored | master start → slave caught up | first process start → replicating |"
  echo "|---|---|---|---|---|---|---|"
  tail -n +2 "$ready_tsv" | while IFS=$'\t' read -r b role ns route send slave start; do
    total=$(awk -v s="$start" -v r="$slave" 'BEGIN { printf "%.3f", s + r }')
    echo "| $b | $role | $ns s | $route s | $send s | $slave s | $total s |"
  done
}

# One line, so that bash has read the whole file before anything runs (editing the script during
# a run cannot change what the run does).
bench_main Bench; exit
