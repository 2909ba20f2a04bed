#!/usr/bin/env bash
# Writes BENCHMARKS.md from two runs of `cargo bench --workspace --bench table`, one run of
# `cargo bench --workspace --bench vs_js` (which needs Node.js 20+ and npm, like the interop tests) and
# one of `cargo bench --workspace --bench real_server` (a livekit-server of its own, built with Go like
# the real-server tests) and one of `cargo bench --workspace --bench sdk_peers` (that server with
# LiveKit's SDKs, installed like the SDK tests, and Chromium). Nothing in BENCHMARKS.md is
# typed by hand: rerun this script to refresh it. `write_benchmarks.sh streams` refreshes
# the streaming and real-server sections; `write_benchmarks.sh links` refreshes only
# the three sections measured on links (the shaped link, which needs root for `unshare -n`
# and `tc`, the real server, and the SDKs through it); `write_benchmarks.sh first-build`
# refreshes only the first-build section (a cold build of the quickstart, about 4 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

real_server_section() {
  echo "## Through a real livekit-server (\`cargo bench --workspace --bench real_server\`)"
  echo
  echo "livekit-server $(sed -n 's/^pub const SERVER_VERSION: &str = "\(.*\)";/\1/p' sfu-tests/src/lib.rs) on 127.0.0.1, two \`sfu::connect\` participants (str0m $(version_of str0m), livekit-signaling $(version_of livekit-signaling)); the floor is measured by the same participants in the same run."
  echo
  cargo bench -p livekit-typed-rpc-sfu-tests --bench real_server 2> /dev/null
}

sdk_peers_section() {
  echo "## LiveKit's SDKs and ours through one server (\`cargo bench --workspace --bench sdk_peers\`)"
  echo
  echo "livekit-server $(sed -n 's/^pub const SERVER_VERSION: &str = "\(.*\)";/\1/p' sfu-tests/src/lib.rs) and every participant in a network namespace of the bench's own (libwebrtc ignores loopback), on a veth address; one run, one server, a fresh room and fresh peer processes per row. SDKs: livekit-client $(sed -n 's/.*"livekit-client": "\(.*\)".*/\1/p' sfu-tests/browser/package.json) in Debian's headless $(/usr/bin/chromium --version 2>/dev/null | awk '{ print $1, $2 }'), Python livekit $(sed -n 's/^livekit==//p' sfu-tests/python/requirements.txt), @livekit/rtc-node $(sed -n 's/.*"@livekit\/rtc-node": "\(.*\)".*/\1/p' sfu-tests/node/package.json); ours is \`sfu::connect\` (str0m $(version_of str0m))."
  echo
  echo "Each row: $(sed -n 's/^const SMALL_CALLS: usize = \(.*\);/\1/p' sfu-tests/benches/sdk_peers.rs) small calls one after another, then 5 MB echoed 3 times per payload (median): letters in a pattern, which DEFLATE shrinks to almost nothing, and base64 of random bytes, which it barely shrinks. Every SDK here advertises DEFLATE and compresses what it sends as it chooses. Peak memory is the process's VmHWM: for Chromium the sum over its processes; for Rust the one bench process, which holds both Rust participants of the first row and the Rust side of every later row, so later Rust figures are upper bounds."
  echo
  cargo bench -p livekit-typed-rpc-sfu-tests --bench sdk_peers 2> /dev/null
}

streaming_section() {
  echo "## Streaming results against separate calls (\`cargo bench --workspace --bench streaming\`)"
  echo
  echo "One streaming call (\`RpcStream\`, default window of 64 items) against the same items fetched as separate calls, in one process (\`MemoryRoom\`), both in the same run; the same comparison through livekit-server is the last table of the real-server section. Latency is from the moment the server has an item (it stamps it) to the moment the caller has it; a call also pays the request leg, shown in the last row."
  echo
  cargo bench --workspace --bench streaming 2> /dev/null
}

shaped_link_section() {
  echo "## Compression on a link shaped to 100 Mbit/s (\`cargo bench --workspace --bench shaped_link\`)"
  echo
  echo "Two participants and the room wire bridge in a network namespace of the bench's own, its loopback shaped with \`tc ... tbf rate 100mbit\` (MTU 1500); on against off measured in the same run, in alternating order."
  echo
  echo "Why this section: the table of 2026-11-30 missed one target, a compressed 5 MB echo in one process within 2x of the uncompressed one (it was 5.3x). In one process there is no link to save, so any compression is pure cost there; the question is whether compression pays on the link a user has. Since then a payload over 64 KiB is compressed only if a 64 KiB probe saves 10 % (random bytes and compressed media go as they are), and compression is judged here and through the real server below."
  echo
  cargo bench --workspace --bench shaped_link 2> /dev/null
}

# What a newcomer meets first: `cargo run --example quickstart` from an empty target
# directory (the crates already downloaded, as after any `cargo fetch`), then the
# quickstart's 4 MB call in that debug build next to the same call in release, five runs
# each, medians, in this run.
first_build_section() {
  local target="$work/first-build"
  local started ended build_s
  started=$(date +%s.%N)
  CARGO_TARGET_DIR="$target" cargo run --quiet --example quickstart > /dev/null
  ended=$(date +%s.%N)
  build_s=$(awk -v a="$started" -v b="$ended" 'BEGIN { print b - a }')
  local crates
  crates=$(cargo tree -p livekit-typed-rpc -e normal,build,dev --prefix none 2> /dev/null \
    | sed 's/ (\*)//; s/ (proc-macro)//' | awk '{ print $1, $2 }' | sort -u | wc -l)
  CARGO_TARGET_DIR="$target" cargo build --quiet --release --example quickstart
  # The 4 MB call's time as the quickstart prints it (a Debug Duration), in milliseconds.
  call_ms() {
    for _ in 1 2 3 4 5; do
      "$1" | sed -n 's/^snapshot.* bytes in \([0-9.]*\)\(m\?s\) .*/\1 \2/p' \
        | awk '{ print ($2 == "s") ? $1 * 1000 : $1 }'
    done | sort -n | sed -n 3p
  }
  local debug_ms release_ms
  debug_ms=$(call_ms "$target/debug/examples/quickstart")
  release_ms=$(call_ms "$target/release/examples/quickstart")
  echo "## The first build (\`cargo run --example quickstart\` from nothing)"
  echo
  echo "An empty target directory, crates already downloaded, $(nproc) cores; the debug and release calls are medians of five runs each, in this run."
  echo
  echo "| measurement | this run | target |"
  echo "|---|---|---|"
  printf '| first `cargo run --example quickstart`, build and run | %.0f s (%d crates) | under 120 s |\n' "$build_s" "$crates"
  printf '| the 4 MB `snapshot` call, debug build | %.0f ms | |\n' "$debug_ms"
  printf '| the same call, release build | %.0f ms | |\n' "$release_ms"
  printf '| debug against release | %.2fx | within 3x |\n' "$(awk -v d="$debug_ms" -v r="$release_ms" 'BEGIN { print d / r }')"
  echo
  echo "Why this section: the first try as a new user compiled for 5 min 30 s (257 crates: examples built every benchmark baseline and interop peer) and printed the 4 MB call at 2.5 s, the generic code running at opt-level 0. Moving the test suite and benchmarks into the \`suite\` member, \`livekit-token\` instead of \`livekit-api\`, and dependencies at opt-level 1 brought that to 2 min 11 s (103 crates), still over the 2-minute target. Since then: dependencies carry no debug info, livekit-protocol (the largest crate) builds at opt-level 0, the library at opt-level 1 instead of 2 (5-10 s less to build; the call stays within 1.5x of release), tracing without its attribute macros, and the examples' tokio with the two features they use instead of \`full\`."
}

# Replaces (or appends) the section of BENCHMARKS.md whose heading starts with $1 by the
# file $2.
replace_section() {
  awk -v heading="$1" -v section="$2" '
    index($0, heading) == 1 { while ((getline line < section) > 0) print line; skip = 1; next }
    skip && /^## / { skip = 0; print ""; }
    !skip { print }' BENCHMARKS.md > "$work/BENCHMARKS.md"
  grep -q "^$1" "$work/BENCHMARKS.md" || { echo; cat "$2"; } >> "$work/BENCHMARKS.md"
  cp "$work/BENCHMARKS.md" BENCHMARKS.md
}

version_of() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

if [ "${1:-}" = streams ]; then
  streaming_section > "$work/streaming.md"
  real_server_section > "$work/real_server.md"
  replace_section "## Streaming results against separate calls" "$work/streaming.md"
  replace_section "## Through a real livekit-server" "$work/real_server.md"
  echo "wrote the streaming and real-server sections of BENCHMARKS.md"
  exit 0
fi

if [ "${1:-}" = first-build ]; then
  first_build_section > "$work/first_build.md"
  replace_section "## The first build" "$work/first_build.md"
  echo "wrote the first-build section of BENCHMARKS.md"
  exit 0
fi

if [ "${1:-}" = links ]; then
  shaped_link_section > "$work/shaped_link.md"
  real_server_section > "$work/real_server.md"
  sdk_peers_section > "$work/sdk_peers.md"
  replace_section "## Compression on a link shaped" "$work/shaped_link.md"
  replace_section "## Through a real livekit-server" "$work/real_server.md"
  replace_section "## LiveKit's SDKs and ours" "$work/sdk_peers.md"
  echo "wrote the link sections of BENCHMARKS.md"
  exit 0
fi

cargo bench --workspace --bench table -- --markdown > "$work/run1.md"
cargo bench --workspace --bench table -- --markdown > "$work/run2.md"
cargo bench --workspace --bench vs_js > "$work/vs_js.txt" 2>&1 || echo "(vs_js could not run: see cargo bench --workspace --bench vs_js)" > "$work/vs_js.txt"

# Where the time of the row that misses its target goes: a CPU profile of compressed
# 5 MB echoes (the table binary's own probe), summed by what the code is doing.
table_exe=$(cargo bench --workspace --bench table --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
if command -v perf > /dev/null \
  && perf record -q -F 999 -o "$work/perf.data" -- "$table_exe" probe-compressed-5mb > /dev/null 2>&1; then
  perf report -i "$work/perf.data" --no-children --sort symbol -q --percent-limit 0 2> /dev/null \
    | awk '
      { share = $1; sub(/%/, "", share) }
      /miniz_oxide::deflate/ { c["compressing (miniz_oxide deflate)"] += share; next }
      /zlib_rs::inflate/ { c["inflating (zlib-rs inflate)"] += share; next }
      /memmove|memcpy|memset/ { c["copying and zeroing buffers (memmove, memset)"] += share; next }
      /\[k\]/ { c["kernel (page faults of fresh buffers, scheduling)"] += share; next }
      { c["everything else (protocol, runtime, allocator)"] += share }
      END {
        print "| where the CPU time goes | share of samples |"
        print "|---|---|"
        for (k in c) printf "| %s | %.1f %% |\n", k, c[k]
      }' | { read -r h1; read -r h2; echo "$h1"; echo "$h2"; sort -t'|' -k3 -rn; } > "$work/profile.md"
else
  echo "(perf could not run here: no profile this time)" > "$work/profile.md"
fi

# Run-to-run stability of every ratio: the two runs above, row by row.
awk -F' [|] ' '
  FNR == 1 { run++ }
  /^[|] / && $4 ~ /x$/ {
    name = $1; sub(/^[|] /, "", name)
    r = $4; sub(/x$/, "", r)
    if (run == 1) { order[++n] = name; first[name] = r } else { second[name] = r }
  }
  END {
    print "| measurement | ratio, run 1 | ratio, run 2 | change | within ±10 % |"
    print "|---|---|---|---|---|"
    for (i = 1; i <= n; i++) {
      k = order[i]
      if (!(k in second) || first[k] == 0) continue
      d = (second[k] - first[k]) / first[k] * 100
      printf "| %s | %.3gx | %.3gx | %+.0f %% | %s |\n", k, first[k], second[k], d, (d <= 10 && d >= -10) ? "yes" : "no"
    }
  }' "$work/run1.md" "$work/run2.md" > "$work/stability.md"

shaped_link_section > "$work/shaped_link.md"
real_server_section > "$work/real_server.md"
sdk_peers_section > "$work/sdk_peers.md"
streaming_section > "$work/streaming.md"
first_build_section > "$work/first_build.md"

{
  echo "# Benchmarks"
  echo
  echo "Written by \`benches/write_benchmarks.sh\` on $(date -u +%Y-%m-%d); rerun it to refresh."
  echo "Every ratio is against a baseline measured in the same run."
  echo
  echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
  echo "- toolchain: $(rustc --version)"
  echo "- versions: livekit-typed-rpc $(version_of livekit-typed-rpc), livekit-rpc $(version_of livekit-rpc), tarpc $(version_of tarpc), flate2 $(version_of flate2) (miniz_oxide $(version_of miniz_oxide), compressing), zlib-rs $(version_of zlib-rs) (inflating), tokio $(version_of tokio), Node $(node --version 2>/dev/null || echo absent)"
  echo "- command: \`cargo bench --workspace --bench table -- --markdown\` (twice), \`cargo bench --workspace --bench vs_js\`"
  echo
  echo "## Run 1"
  echo
  cat "$work/run1.md"
  echo
  echo "## Run 2"
  echo
  cat "$work/run2.md"
  echo
  echo "## Stability: the same ratios in both runs"
  echo
  cat "$work/stability.md"
  echo
  echo "## Profile: compressed 5 MB echoes (\`perf record\` of \`table probe-compressed-5mb\`)"
  echo
  cat "$work/profile.md"
  echo
  echo "## Against the JavaScript SDK (livekit-client 2.23.0 in Node, same bridge)"
  echo
  echo '```'
  sed -n '/ratios measured in this run/,$p' "$work/vs_js.txt"
  echo '```'
  echo
  cat "$work/shaped_link.md"
  echo
  cat "$work/real_server.md"
  echo
  cat "$work/sdk_peers.md"
  echo
  cat "$work/streaming.md"
  echo
  cat "$work/first_build.md"
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
