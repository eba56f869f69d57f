#!/usr/bin/env bash
# Populates the fuzz seeds.
#
#   fuzz/seeds/<target>/   from the repository's own samples/ and synthetic
#                          inputs (may be committed);
#   fuzz/corpus/<target>/  from the public captures in ../shared/corpus/pcaps
#                          (kept out of git: fuzz/corpus is ignored), plus
#                          the small public captures themselves for `capture`.
#
# Needs tshark and python3. run.sh copies fuzz/seeds into fuzz/corpus.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
shared=${SHARED_PCAPS:-$repo/../shared/corpus/pcaps}

command -v tshark >/dev/null || { echo "seed.sh: tshark is needed" >&2; exit 1; }

mkdir -p "$here/seeds"/{tls_hello,starttls,reassembly,capture}
python3 "$here/seed.py" "$here/seeds" "$repo"/samples/*.pcap "$repo"/samples/*.pcapng
# Whole small sample captures, as files, for the capture target (they are
# in git already under samples/, so they go to the ignored corpus).
mkdir -p "$here/corpus/capture"
for f in "$repo"/samples/*.pcap "$repo"/samples/*.pcapng "$repo"/samples/*.gz; do
    if [ "$(stat -c %s "$f")" -le 16384 ]; then cp "$f" "$here/corpus/capture/"; fi
done

# Reassembly: synthetic operation lists (see fuzz_targets/reassembly.rs).
python3 - "$here/seeds/reassembly" <<'PY'
import os, struct, sys
out = sys.argv[1]
def seg(rel, n):  # kind 2: length = 16-bit % 1500
    return bytes([2]) + struct.pack(">i", rel << 12) + struct.pack(">H", n)
seeds = {
    "in-order": b"\x01" + b"".join(seg(i * 100, 100) for i in range(10)),
    "reordered": b"\x01" + b"".join(seg(i * 100, 100) for i in (3, 1, 0, 2, 5, 4)),
    "dup-overlap": b"\x01" + seg(0, 100) + seg(50, 100) + seg(0, 300) + seg(20, 10),
    "hole-skip": b"\x00" + seg(0, 10) + seg(200, 10) + bytes([0x18, 0, 0, 0, 0, 0, 0]) + seg(210, 5),
    "snap-cut": b"\x01" + bytes([0x06]) + struct.pack(">i", 0) + bytes([0, 40]) + seg(0 + 60, 10),
    "wrap": b"\xff" + b"".join(seg(i * 300, 300) for i in range(8)),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
PY

if [ -d "$shared" ]; then
    mkdir -p "$here/corpus"/{tls_hello,starttls,capture}
    python3 "$here/seed.py" "$here/corpus" "$shared"/*.pcap "$shared"/*.pcapng
    for f in "$shared"/*.pcap "$shared"/*.pcapng; do
        if [ "$(stat -c %s "$f")" -le 65536 ]; then cp "$f" "$here/corpus/capture/"; fi
    done
else
    echo "seed.sh: $shared not found; public seeds skipped" >&2
fi
for t in "$here"/seeds/* "$here"/corpus/*; do
    if [ -d "$t" ]; then echo "$(basename "$(dirname "$t")")/$(basename "$t"): $(ls "$t" | wc -l) files"; fi
done
