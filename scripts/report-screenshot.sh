#!/usr/bin/env bash
# Remakes docs/report.png, the README's screenshot of the HTML report of the
# bundled samples (headless Chromium: apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target/release/tlsready analyze samples/ --html "$tmp/report.html" --clients "$tmp/clients.csv" -q
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp/profile" \
  --window-size=1280,1960 --screenshot="$PWD/docs/report.png" "file://$tmp/report.html" 2>/dev/null
echo "docs/report.png"
