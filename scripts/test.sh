#!/usr/bin/env bash
# Installs what the tests need, then runs formatting, lint and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# iproute2 (`ip netns`, veth) for tests/live_capture.rs.
if ! dpkg -s libpcap-dev >/dev/null 2>&1 || ! command -v tcpdump >/dev/null || ! command -v openssl >/dev/null \
  || ! command -v ip >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpcap-dev tcpdump openssl iproute2 >/dev/null
fi
# dnsmasq and BusyBox udhcpc for the live naming test in tests/live_capture.rs
# (it skips, saying why, only when these cannot be installed).
if ! command -v dnsmasq >/dev/null || ! command -v udhcpc >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base udhcpc >/dev/null) \
    || echo "test.sh: cannot install dnsmasq-base/udhcpc: the live naming test will skip" >&2
fi
# Headless Chromium and pdftotext for the browser tests of the HTML report
# (tests/html_report.rs; they skip, saying why, only when these cannot be installed).
if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null) \
    || echo "test.sh: cannot install chromium/poppler-utils: the browser tests will skip" >&2
fi
# chdb (ClickHouse's embedded engine, PyPI) for the ClickHouse SQL test in
# tests/tally_rows.rs (it skips, saying why, when chdb cannot be installed).
if command -v python3 >/dev/null && ! python3 -c "import chdb" >/dev/null 2>&1; then
  python3 -m pip install -q chdb 2>/dev/null || python3 -m pip install -q --break-system-packages chdb \
    || echo "test.sh: cannot install chdb: the ClickHouse test will skip" >&2
fi
cargo fmt --check
cargo clippy --profile ci --all-targets -- -D warnings
cargo build --release
# Tests in the `ci` profile (Cargo.toml): release code without the slow whole-program build.
cargo test --profile ci
# Real captures from public test suites, scored against independent tools
# (../shared/corpus, read in place).
python3 ../shared/corpus/score.py target/release/tlsready --max-extra=0
# Short fuzz pass (fuzz/README.md): each of the 7 targets for 30 s, AddressSanitizer on;
# fails on a crash (input under fuzz/artifacts/, log under fuzz/logs/).
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
fuzz/run.sh 30
