#!/usr/bin/env bash
# Installs what the tests need, then runs formatting, lint and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libpcap-dev >/dev/null 2>&1 || ! command -v tcpdump >/dev/null || ! command -v openssl >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpcap-dev tcpdump openssl >/dev/null
fi
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
cargo build --release
cargo test --release
# Real captures from public test suites, scored against independent tools
# (../shared/corpus, read in place).
if [ -f ../shared/corpus/score.py ]; then
  python3 ../shared/corpus/score.py target/release/tlsready --max-extra=0
fi
