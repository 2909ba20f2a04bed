#!/usr/bin/env bash
# Writes BENCHMARKS.md from two runs of `cargo bench --bench table` and one run of
# `cargo bench --bench vs_js` (which needs Node.js 20+ and npm, like the interop tests).
# Nothing in BENCHMARKS.md is typed by hand: rerun this script to refresh it.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo bench --bench table -- --markdown > "$work/run1.md"
cargo bench --bench table -- --markdown > "$work/run2.md"
cargo bench --bench vs_js > "$work/vs_js.txt" 2>&1 || echo "(vs_js could not run: see cargo bench --bench vs_js)" > "$work/vs_js.txt"

version_of() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

{
  echo "# Benchmarks"
  echo
  echo "Written by \`benches/write_benchmarks.sh\` on $(date -u +%Y-%m-%d); rerun it to refresh."
  echo "Every ratio is against a baseline measured in the same run."
  echo
  echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
  echo "- toolchain: $(rustc --version)"
  echo "- versions: livekit-typed-rpc $(version_of livekit-typed-rpc), livekit-rpc $(version_of livekit-rpc), tarpc $(version_of tarpc), flate2 $(version_of flate2) (miniz_oxide $(version_of miniz_oxide)), tokio $(version_of tokio), Node $(node --version 2>/dev/null || echo absent)"
  echo "- command: \`cargo bench --bench table -- --markdown\` (twice), \`cargo bench --bench vs_js\`"
  echo
  echo "## Run 1"
  echo
  cat "$work/run1.md"
  echo
  echo "## Run 2"
  echo
  cat "$work/run2.md"
  echo
  echo "## Against the JavaScript SDK (livekit-client 2.23.0 in Node, same bridge)"
  echo
  echo '```'
  sed -n '/ratios measured in this run/,$p' "$work/vs_js.txt"
  echo '```'
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
