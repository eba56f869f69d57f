#!/usr/bin/env bash
# Runs each fuzz target for N seconds, one after the other.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 60 s, all targets)
#
# Seeds from fuzz/seeds/<target>/ are copied into fuzz/corpus/<target>/
# first (run seed.sh once to add the public-capture seeds). Needs
# cargo-fuzz; on a stable toolchain RUSTC_BOOTSTRAP=1 lets it pass the -Z
# flags libFuzzer builds need. FUZZ_SANITIZER=none turns AddressSanitizer
# off. Exits non-zero when any target crashed; the crashing input is under
# fuzz/artifacts/<target>/ and the log under fuzz/logs/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tls_hello starttls reassembly capture layout rows names)
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
cd "$here"
mkdir -p logs
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    if [ -d "seeds/$t" ]; then cp -n "seeds/$t"/* "corpus/$t/" 2>/dev/null || true; fi
    echo "== $t: ${secs}s"
    cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 >"logs/$t.log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || true)
    echo "   exit $rc, ${execs:-?} executions, corpus $(ls "corpus/$t" | wc -l) inputs"
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        grep -E 'panicked|ERROR: |SUMMARY|Test unit written' "logs/$t.log" | head -5 | sed 's/^/   /'
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
