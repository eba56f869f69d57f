#!/bin/sh
# Regenerate samples/expected.tsv from the sample captures with tshark (see oracle.py).
# Every *.pcap and *.pcapng in this directory is analysed; *.pcap.gz files are
# skipped (each equals its uncompressed source).
set -eu
cd "$(dirname "$0")"
files=$(ls *.pcap *.pcapng 2>/dev/null | LC_ALL=C sort)
[ -n "$files" ] || { echo "oracle.sh: no captures" >&2; exit 1; }
# shellcheck disable=SC2086
python3 ./oracle.py $files > expected.tsv.tmp
mv expected.tsv.tmp expected.tsv
echo "oracle.sh: wrote expected.tsv ($(($(wc -l < expected.tsv) - 1)) rows)"
