#!/usr/bin/env bash
# Throughput of `tlsready tally` on a large file of connection rows made from the
# benchmark corpus: the JSON lines of `analyze` on ../shared/bench/make-corpus.py's
# capture (seed 1), written COPIES times with the client addresses shifted (10 sets of
# clients, as many sensors or days), then the same rows as CSV (`tally --connections`).
# Prints wall and CPU time and peak RSS for --threads 1 and the default, JSON and CSV.
#
#   bench/tally-rows.sh                 # 200 MiB capture, 250 copies: 2.04 M rows, 1.65 GB
#   SIZE=50 COPIES=20 bench/tally-rows.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${SIZE:-200}
COPIES=${COPIES:-250}
DATA_DIR=${DATA_DIR:-$ROOT/lab/perf/data}
GEN=${GEN:-$ROOT/../shared/bench/make-corpus.py}
BIN=$ROOT/target/release/tlsready
mkdir -p "$DATA_DIR"
cargo build --release --manifest-path "$ROOT/Cargo.toml" >/dev/null
pcap=$DATA_DIR/s1-$SIZE.pcap
[ -f "$pcap" ] || python3 "$GEN" --out "$pcap" --size-mb "$SIZE" --seed 1
rows=$DATA_DIR/rows-$SIZE-$COPIES
if [ ! -f "$rows.jsonl" ]; then
  "$BIN" analyze "$pcap" --json "$rows.one.jsonl" -q
  python3 - "$rows.one.jsonl" "$rows.jsonl" "$COPIES" <<'PY'
import ipaddress, json, sys
src = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as out:
    for k in range(int(sys.argv[3])):
        for r in src:
            ip = ipaddress.ip_address(r["client_ip"])
            if ip.version == 4:
                r = dict(r, client_ip=str(ipaddress.ip_address((int(ip) + (k % 10) * (1 << 24)) & 0xFFFFFFFF)))
            out.write(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n")
PY
  "$BIN" tally "$rows.jsonl" --connections "$rows.csv" -q --scope all
fi
n=$(wc -l < "$rows.jsonl")
echo "$n rows: $(du -hL "$rows.jsonl" | cut -f1) JSON lines, $(du -hL "$rows.csv" | cut -f1) CSV; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for f in "$rows.jsonl" "$rows.csv"; do
  cat "$f" > /dev/null
  for t in 1 default; do
    args=()
    [ "$t" = 1 ] && args=(--threads 1)
    /usr/bin/time -f "%e %U %S %M" -o "$DATA_DIR/time.txt" "$BIN" tally "$f" -q "${args[@]}" --clients "$DATA_DIR/clients-$t.csv"
    read -r wall user sys rss < "$DATA_DIR/time.txt"
    python3 -c "
n, wall, cpu = $n, $wall, $user + $sys
print(f'${f##*.} threads $t: {wall:.2f} s wall ({n / wall / 1e6:.2f} M rows/s), {cpu:.2f} s CPU ({n / cpu / 1e6:.2f} M rows per CPU second), peak RSS {$rss / 1024:.0f} MiB')"
  done
  cmp -s "$DATA_DIR/clients-1.csv" "$DATA_DIR/clients-default.csv" || echo "clients CSV differs between thread counts"
done
