#!/bin/sh
# Remakes eve.json: Suricata's own eve.json `tls` events for every sample
# capture, read by `tlsready tally` in tests/tally_rows.rs.
#
#   apt-get install -y suricata      # Debian 12: from bookworm-backports
#   samples/suricata/make-eve.sh
#
# Each capture is read by its own `suricata -r` run (suricata.yaml beside
# this script: eve.json with tls events, extended, JA3 and JA4 on), and the
# tls events are appended in capture name order. Suricata 7.0.10 made the
# committed file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$here/eve.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$out.tmp"
for f in "$here"/../*.pcap "$here"/../*.pcapng; do
    rm -f "$tmp/eve.json"
    suricata -c "$here/suricata.yaml" -r "$f" -l "$tmp" -k none >/dev/null 2>&1
    if [ -f "$tmp/eve.json" ]; then
        grep '"event_type":"tls"' "$tmp/eve.json" >> "$out.tmp" || true
    fi
done
mv "$out.tmp" "$out"
echo "$(wc -l < "$out") tls events in $out ($(suricata -V))"
