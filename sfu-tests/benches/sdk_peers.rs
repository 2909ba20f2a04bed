//! LiveKit's SDKs and ours side by side through one livekit-server, in one run: small-call
//! p50/p99 and a 5 MB echo for Rust, the browser (livekit-client in Chromium), Python and
//! Node calling their own kind and calling Rust both ways, with each process's peak
//! memory. It runs in a network namespace of its own (libwebrtc ignores loopback). Prints
//! a markdown table; `benches/write_benchmarks.sh` puts it in BENCHMARKS.md.
//!
//! `cargo bench -p livekit-typed-rpc-sfu-tests --bench sdk_peers`

#[path = "../../benches/payloads.rs"]
mod payloads;

use std::time::{Duration, Instant};

use livekit_typed_rpc::{sfu, JoinOptions, Participant, PerformRpcData, RpcInvocationData};
use livekit_typed_rpc_sfu_tests::sdk::{self, Sdk, SdkPeer};
use livekit_typed_rpc_sfu_tests::{private_network, LiveKitServer};
use serde_json::json;

const SMALL_CALLS: usize = 300;
const ECHO_BYTES: usize = 5_000_000;
const ECHO_ROUNDS: usize = 3;
const WAIT: Duration = Duration::from_secs(120);

/// Who calls and who answers; `None` is Rust.
type Pair = (Option<Sdk>, Option<Sdk>);

/// One side of a measured pair.
enum Side {
    Rust(Participant),
    Sdk(SdkPeer),
}

struct Measured {
    p50_ms: f64,
    p99_ms: f64,
    echo_s: f64,
    echo_b64_s: f64,
}

fn name(sdk: Option<Sdk>) -> &'static str {
    match sdk {
        None => "Rust (sfu::connect)",
        Some(Sdk::Browser) => "browser (livekit-client)",
        Some(Sdk::Python) => "Python (livekit)",
        Some(Sdk::Node) => "Node (rtc-node)",
    }
}

/// The payloads the SDK peers build too: letters in a repeating pattern (DEFLATE shrinks
/// them to almost nothing) and base64 of random bytes (DEFLATE saves a quarter at most).
fn letters_payload() -> String {
    (0..ECHO_BYTES)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect()
}

fn base64_payload() -> String {
    payloads::base64_of_random(ECHO_BYTES, &mut payloads::Noise::new(7))
}

/// Peak resident memory of this process (the Rust participants live here), in KiB.
fn own_peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Bench {
    rt: tokio::runtime::Runtime,
    server: LiveKitServer,
    rooms: usize,
}

impl Bench {
    fn join(&mut self, sdk: Option<Sdk>, room: &str, identity: &str) -> Side {
        match sdk {
            None => {
                let participant = self
                    .rt
                    .block_on(sfu::connect(
                        self.server.url(),
                        &self.server.token(room, identity),
                        JoinOptions::default(),
                    ))
                    .expect("a Rust participant joins");
                participant
                    .register_rpc_method("bench.echo", |d: RpcInvocationData| async move {
                        Ok(d.payload)
                    })
                    .expect("register bench.echo");
                Side::Rust(participant)
            }
            Some(sdk) => {
                let mut peer = SdkPeer::start(sdk, &self.server);
                peer.join(&self.server, room, identity);
                peer.ok(json!({"cmd": "serve_echo"}), WAIT);
                Side::Sdk(peer)
            }
        }
    }

    fn wait_for(&self, side: &mut Side, identity: &str) {
        match side {
            Side::Rust(p) => {
                self.rt
                    .block_on(p.wait_for_participant(identity, WAIT))
                    .expect("the other side is seen");
            }
            Side::Sdk(peer) => {
                peer.ok(json!({"cmd": "wait_for", "identity": identity}), WAIT);
            }
        }
    }

    fn measure(&self, caller: &mut Side, callee: &str) -> Measured {
        match caller {
            Side::Sdk(peer) => {
                let v = peer.ok(
                    json!({"cmd": "bench", "dest": callee, "calls": SMALL_CALLS,
                           "echo_bytes": ECHO_BYTES, "echo_rounds": ECHO_ROUNDS}),
                    WAIT,
                );
                let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
                Measured {
                    p50_ms: f("p50_ms"),
                    p99_ms: f("p99_ms"),
                    echo_s: f("echo_s"),
                    echo_b64_s: f("echo_b64_s"),
                }
            }
            Side::Rust(p) => self.rt.block_on(async {
                let call = |payload: String| PerformRpcData {
                    destination_identity: callee.into(),
                    method: "bench.echo".into(),
                    payload,
                    response_timeout: Duration::from_secs(60),
                    ..Default::default()
                };
                let mut times = Vec::with_capacity(SMALL_CALLS);
                for _ in 0..SMALL_CALLS {
                    let start = Instant::now();
                    p.perform_rpc(call("ping".into()))
                        .await
                        .expect("small call");
                    times.push(start.elapsed().as_secs_f64() * 1000.0);
                }
                times.sort_by(f64::total_cmp);
                let mut medians = Vec::new();
                for payload in [letters_payload(), base64_payload()] {
                    let mut echoes = Vec::new();
                    for _ in 0..ECHO_ROUNDS {
                        let start = Instant::now();
                        let reply = p.perform_rpc(call(payload.clone())).await.expect("echo");
                        echoes.push(start.elapsed().as_secs_f64());
                        assert!(reply == payload, "the echo came back different");
                    }
                    echoes.sort_by(f64::total_cmp);
                    medians.push(echoes[echoes.len() / 2]);
                }
                Measured {
                    p50_ms: times[times.len() / 2],
                    p99_ms: times[(times.len() * 99 / 100).min(times.len() - 1)],
                    echo_s: medians[0],
                    echo_b64_s: medians[1],
                }
            }),
        }
    }

    fn peak_mib(&self, side: &mut Side) -> String {
        let kib = match side {
            Side::Rust(_) => own_peak_rss_kib(),
            Side::Sdk(peer) => peer
                .ok(json!({"cmd": "peak_rss_kib"}), WAIT)
                .as_u64()
                .unwrap_or(0),
        };
        format!("{:.0}", kib as f64 / 1024.0)
    }

    fn leave(&self, side: Side) {
        match side {
            Side::Rust(p) => self.rt.block_on(p.leave()),
            Side::Sdk(mut peer) => {
                peer.ok(json!({"cmd": "leave"}), WAIT);
            }
        }
    }

    /// One row: `caller` calls `callee` in a room of their own.
    fn row(&mut self, caller: Option<Sdk>, callee: Option<Sdk>) -> (String, Measured) {
        self.rooms += 1;
        let room = format!("bench-{}", self.rooms);
        let mut callee_side = self.join(callee, &room, "callee");
        let mut caller_side = self.join(caller, &room, "caller");
        self.wait_for(&mut caller_side, "callee");
        self.wait_for(&mut callee_side, "caller");
        let m = self.measure(&mut caller_side, "callee");
        let row = format!(
            "| {} → {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            name(caller),
            name(callee),
            m.p50_ms,
            m.p99_ms,
            m.echo_s,
            m.echo_b64_s,
            self.peak_mib(&mut caller_side),
            self.peak_mib(&mut callee_side),
        );
        self.leave(caller_side);
        self.leave(callee_side);
        (row, m)
    }
}

/// Each pair with Rust on one side against the same SDK on both sides, and Rust on both
/// sides against it: below 1.0x, the pair with Rust is faster.
fn ratios(results: &[(Pair, Measured)]) {
    let find =
        |pair: (Option<Sdk>, Option<Sdk>)| results.iter().find(|(p, _)| *p == pair).map(|(_, m)| m);
    let Some(rust) = find((None, None)) else {
        return;
    };
    println!();
    println!("| against the SDK's own pair | small call p50 | 5 MB base64 echo |");
    println!("|---|---|---|");
    for sdk in [Sdk::Browser, Sdk::Python, Sdk::Node] {
        let Some(own) = find((Some(sdk), Some(sdk))) else {
            continue;
        };
        let line = |label: String, m: &Measured| {
            println!(
                "| {label} | {:.2}x | {:.2}x |",
                m.p50_ms / own.p50_ms,
                m.echo_b64_s / own.echo_b64_s
            );
        };
        line(format!("Rust → Rust vs {} → itself", name(Some(sdk))), rust);
        if let Some(m) = find((None, Some(sdk))) {
            line(format!("Rust → {0} vs {0} → itself", name(Some(sdk))), m);
        }
        if let Some(m) = find((Some(sdk), None)) {
            line(format!("{0} → Rust vs {0} → itself", name(Some(sdk))), m);
        }
    }
}

fn main() {
    for sdk in [Sdk::Browser, Sdk::Python, Sdk::Node] {
        sdk::install(sdk);
    }
    if !private_network::enter_program() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut bench = Bench {
        rt,
        server: LiveKitServer::start_private(),
        rooms: 0,
    };
    let sdks = [Sdk::Browser, Sdk::Python, Sdk::Node];
    let mut pairs: Vec<Pair> = vec![(None, None)];
    pairs.extend(sdks.iter().map(|&s| (Some(s), Some(s))));
    for &s in &sdks {
        pairs.push((None, Some(s)));
        pairs.push((Some(s), None));
    }
    println!(
        "| caller → callee | small call p50 ms | p99 ms | 5 MB letters echo s | 5 MB base64 echo s | caller peak MiB | callee peak MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut results = Vec::new();
    for pair in pairs {
        let (row, measured) = bench.row(pair.0, pair.1);
        println!("{row}");
        results.push((pair, measured));
    }
    ratios(&results);
}
