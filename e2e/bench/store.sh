#!/usr/bin/env bash
# Storage-engine benchmarks for docs/benchmarks.md. Usage: e2e/bench/store.sh DATA_DIR
# Needs ~40 GB free in DATA_DIR and root (drop_caches). Every run is bounded by a record count.
set -euo pipefail
data=${1:?usage: $0 DATA_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
cargo build --release --locked -p apogee-e2e --bin storebench --manifest-path "$root/Cargo.toml" >&2
sb="$root/target/release/storebench"
mkdir -p "$data"
cd "$data"
calm() { sync; echo 3 > /proc/sys/vm/drop_caches; sleep 2; }
fresh() { rm -rf "$data/s"; calm; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, dirty_ratio $(cat /proc/sys/vm/dirty_ratio)%, $(uname -r)"
echo "== disk sequential write (dd 8 GiB, fdatasync)"
calm; dd if=/dev/zero of="$data/dd.test" bs=1M count=8192 conv=fdatasync 2>&1 | tail -1; rm -f "$data/dd.test"

echo "== append 1 KiB, ASYNC_FLUSH, in page cache (1M records, 5 runs each)"
for writers in 1 2; do
  for run in 1 2 3 4 5; do fresh; "$sb" append --dir s --records 1000000 --writers "$writers"; done
done

echo "== append 1 KiB, ASYNC_FLUSH, sustained past the dirty-page limit (16M records, ~18 GB)"
fresh; "$sb" append --dir s --records 16000000 --writers 2

echo "== append 1 KiB, SYNC_FLUSH (group commit) with 1, 16, 64 writers"
fresh; "$sb" append --dir s --flush SYNC_FLUSH --records 20000 --writers 1
fresh; "$sb" append --dir s --flush SYNC_FLUSH --records 200000 --writers 16
fresh; "$sb" append --dir s --flush SYNC_FLUSH --records 400000 --writers 64

echo "== append latency, empty store vs 10M-record backlog (1M measured records, 1 writer)"
fresh; "$sb" append --dir s --records 1000000 --writers 1
fresh; "$sb" fill --dir s --records 10000000
calm; "$sb" append --dir s --records 1000000 --writers 1

echo "== read path: 32-message reads from a queue of the backlog, cold then hot"
calm; "$sb" read --dir s --reads 20000
"$sb" read --dir s --reads 200000

echo "== restart after kill -9 with the backlog (~11 GiB of CommitLog)"
"$sb" append --dir s --records 100000000 --writers 2 > /dev/null &
writer=$!
sleep 5; kill -9 "$writer"; wait "$writer" || true
calm; "$sb" recover --dir s
"$sb" recover --dir s
rm -rf "$data/s"
