#!/usr/bin/env bash
# Runs every fuzz target for a short while (60 s each by default; FUZZ_SECONDS overrides).
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz needs nightly features; on a
# stable toolchain RUSTC_BOOTSTRAP=1 enables them.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }
if ! rustc --version | grep -q nightly; then export RUSTC_BOOTSTRAP=1; fi
for target in packet_dispatch stream_reassembly typed_args bridge_frames; do
  echo "== fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536
done
