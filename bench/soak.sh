#!/usr/bin/env bash
# bench/soak.sh — long-running live-capture check (issue 6): memory stays flat.
#
# Runs `tlsready capture -i lo` while a loop drives real openssl s_client handshakes at a
# steady rate against local openssl s_server instances (TLS 1.0, 1.2 and 1.3 mixed, a new
# client port each time, bulk data on some connections both ways), samples tlsready's RSS
# every 10 s, then stops it with SIGTERM and prints the numbers.
#
# Usage (as root, loopback only; needs openssl and python3):
#   bench/soak.sh                  # 10 minutes
#   DURATION=120 bench/soak.sh     # seconds
#   TLSREADY=/path/to/tlsready bench/soak.sh   # otherwise target/release/tlsready (built)
#   KEEP=1 bench/soak.sh           # keep the work directory (outputs, logs, RSS samples)
#   PAUSE=0.05                     # pause between two client connections (seconds)
#   WRAP="valgrind --tool=massif --massif-out-file=/tmp/massif.out" bench/soak.sh
#                                  # run tlsready under a wrapper (RSS is then the wrapper's)
#   ARGS="--idle-timeout 30"       # more options for tlsready capture
#
# Mix, per 20 connections: 4 x 1 MB client->server upload (sink server), 2 x 2 MB
# server->client download (-WWW server), 14 x small HTTP GET (-www server); protocol versions
# cycle TLS 1.0 / 1.2 / 1.3 (one in ten is TLS 1.1), SNI from a small fixed set.
#
# Output: RSS samples (KiB) every 10 s in WORK/rss.tsv; summary at the end: RSS first /
# middle / last / max, VmHWM, handshakes driven (ok/failed), connections reported by
# tlsready (CSV rows), packets received/dropped from tlsready's last line, exit status.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-600}
PAUSE=${PAUSE:-0.05}
KEEP=${KEEP:-0}
WRAP=${WRAP:-}
ARGS=${ARGS:-}
if [ -z "${TLSREADY:-}" ]; then
    cargo build --release --quiet
    TLSREADY=$ROOT/target/release/tlsready
fi
[ "$(id -u)" -eq 0 ] || { echo "soak.sh: needs root (live capture)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "soak.sh: needs openssl" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tlsready-soak.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -subj /CN=soak.test -days 2 >/dev/null 2>&1
head -c 2000000 /dev/urandom >big.bin
P_WWW=$(free_port)
P_SINK=$(free_port)
P_FILE=$(free_port)
SRV=(-cert cert.pem -key key.pem -cipher DEFAULT:@SECLEVEL=0)
# Servers read their standard input: give them one that never ends (a FIFO held open
# read-write here, so no extra process to clean up).
mkfifo stdin.fifo
exec 3<>stdin.fifo
openssl s_server -accept "127.0.0.1:$P_WWW" "${SRV[@]}" -www -quiet <&3 >/dev/null 2>srv-www.err &
pids+=($!)
openssl s_server -accept "127.0.0.1:$P_SINK" "${SRV[@]}" -quiet <&3 >/dev/null 2>srv-sink.err &
pids+=($!)
openssl s_server -accept "127.0.0.1:$P_FILE" "${SRV[@]}" -WWW -quiet <&3 >/dev/null 2>srv-file.err &
pids+=($!)

FILTER="tcp port $P_WWW or tcp port $P_SINK or tcp port $P_FILE"
# shellcheck disable=SC2086
$WRAP "$TLSREADY" capture -i lo --report-every 1m --scope all \
    --connections conn.csv --clients clients.csv --json conn.jsonl -w hs.pcap $ARGS \
    "$FILTER" >tlsready.out 2>tlsready.err &
TPID=$!
pids+=("$TPID")
for _ in $(seq 100); do
    grep -q "capturing on" tlsready.err 2>/dev/null && break
    sleep 0.1
done
grep -q "capturing on" tlsready.err || { cat tlsready.err >&2; echo "soak.sh: tlsready did not start" >&2; exit 1; }
echo "soak: ${DURATION}s, work directory $WORK, tlsready pid $TPID, ports $P_WWW $P_SINK $P_FILE"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$TPID/status" 2>/dev/null || echo 0; }
start=$(date +%s)
(
    while kill -0 "$TPID" 2>/dev/null; do
        printf '%s\t%s\n' "$(($(date +%s) - start))" "$(rss)"
        sleep 10
    done
) >rss.tsv &
pids+=($!)

versions=(-tls1 -tls1_2 -tls1_3 -tls1 -tls1_2 -tls1_3 -tls1 -tls1_2 -tls1_3 -tls1_1)
snis=(outlook.office365.com smtp.office365.com soak-a.example soak-b.example)
ok=0
failed=0
i=0
CL=(-cipher DEFAULT:@SECLEVEL=0 -nocommands)
while [ $(($(date +%s) - start)) -lt "$DURATION" ]; do
    v=${versions[$((i % 10))]}
    sni=${snis[$((i % 4))]}
    case $((i % 20)) in
        3 | 8 | 13 | 18)
            head -c 1000000 /dev/urandom |
                timeout 20 openssl s_client -connect "127.0.0.1:$P_SINK" -servername "$sni" "$v" "${CL[@]}" \
                    >/dev/null 2>&1 ;;
        5 | 15)
            printf 'GET /big.bin HTTP/1.0\r\n\r\n' |
                timeout 20 openssl s_client -connect "127.0.0.1:$P_FILE" -servername "$sni" "$v" "${CL[@]}" \
                    -ign_eof >/dev/null 2>&1 ;;
        *)
            printf 'GET / HTTP/1.0\r\n\r\n' |
                timeout 20 openssl s_client -connect "127.0.0.1:$P_WWW" -servername "$sni" "$v" "${CL[@]}" \
                    -ign_eof >/dev/null 2>&1 ;;
    esac && ok=$((ok + 1)) || failed=$((failed + 1))
    i=$((i + 1))
    sleep "$PAUSE"
done
# Let the last handshakes reach the capture, take a last sample, stop.
sleep 2
printf '%s\t%s\n' "$(($(date +%s) - start))" "$(rss)" >>rss.tsv
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$TPID/status" 2>/dev/null || echo "?")
kill -TERM "$TPID"
set +e
wait "$TPID"
status=$?
set -e

rows=$(($(wc -l <conn.csv) - 1))
json=$(wc -l <conn.jsonl)
n=$(wc -l <rss.tsv)
sample() { sed -n "${1}p" rss.tsv | awk '{printf "%s KiB at %ss", $2, $1}'; }
max=$(sort -t$'\t' -k2,2n rss.tsv | tail -1 | awk '{printf "%s KiB at %ss", $2, $1}')
versions_seen=$(awk -F, 'NR == 1 { for (c = 1; c <= NF; c++) if ($c == "negotiated_version") col = c; next }
    col { n[$col]++ } END { for (v in n) printf "%s=%d ", v, n[v] }' conn.csv)
echo
echo "== soak result (${DURATION}s)"
echo "handshakes driven:     $i ($ok ok, $failed failed)"
echo "connections reported:  $rows CSV rows ($((i - rows)) handshakes missed), $json JSON lines; versions: ${versions_seen:-?}"
echo "RSS samples ($n):      first $(sample 1), middle $(sample $(((n + 1) / 2))), last $(sample "$n")"
echo "RSS max:               $max; VmHWM before stop $hwm KiB"
echo "tlsready last line:    $(tail -1 tlsready.err)"
echo "interim reports:       $(grep -c "TLS connections" tlsready.out || true) summaries on stdout (--report-every 1m, and the final one)"
echo "exit status:           $status"
echo "RSS over time (s, KiB):"
awk '{printf "  %5s %7s\n", $1, $2}' rss.tsv
[ "$status" -eq 0 ]
