//! Compression on a link that is the bottleneck: two participants and the room wire bridge
//! in a network namespace of the bench's own (`unshare -n`), whose loopback is shaped to
//! 100 Mbit/s with `tc ... tbf`, so every byte between a participant and the bridge
//! crosses that link. 5 MB echoes of JSON records and base64 of random bytes (RPC) and
//! of random bytes (byte streams), compression on against off, measured in the same run.
//! Needs root (for `unshare -n` and `tc`); prints a markdown table.
//!
//! `cargo bench --workspace --bench shaped_link`

mod byte_echo;
mod payloads;

use std::process::Command;
use std::time::{Duration, Instant};

use livekit_typed_rpc::{bridge, JoinOptions, MemoryRoom, Participant, PerformRpcData};
use tokio::sync::mpsc;

const RATE: &str = "100mbit";
const SIZE: usize = 5_000_000;
const ROUNDS: usize = 5;
const INSIDE: &str = "SHAPED_LINK_INSIDE_NAMESPACE";

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("`{program} {}` failed ({status})", args.join(" ")))
}

fn main() {
    if std::env::var_os(INSIDE).is_none() {
        // Re-run this binary in a network namespace of its own: nothing it sends can
        // leave it, and shaping its loopback touches nothing else on the machine.
        let exe = std::env::current_exe().expect("this binary's path");
        let status = Command::new("unshare")
            .arg("-n")
            .arg(&exe)
            .args(std::env::args().skip(1))
            .env(INSIDE, "1")
            .status()
            .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
        assert!(
            status.success(),
            "the shaped-link bench failed in its namespace ({status}); it needs root for `unshare -n` and `tc`"
        );
        return;
    }
    // An Ethernet-sized MTU: loopback's 64 KiB packets would not fit tbf's burst and
    // would be dropped for ever.
    run("ip", &["link", "set", "lo", "mtu", "1500", "up"]).expect("loopback up in the namespace");
    if std::env::var_os("SHAPED_LINK_UNSHAPED").is_none() {
        run(
            "tc",
            &[
                "qdisc", "add", "dev", "lo", "root", "tbf", "rate", RATE, "burst", "64kb",
                "latency", "100ms",
            ],
        )
        .expect("shape the namespace's loopback");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(measure());
}

/// A caller and an echo joined through the bridge, both with compression on or off.
struct Pair {
    caller: Participant,
    bytes_back: mpsc::UnboundedReceiver<Vec<u8>>,
    _echo: Participant,
}

async fn pair(addr: std::net::SocketAddr, compression: bool) -> Pair {
    let options = JoinOptions {
        compression,
        ..Default::default()
    };
    let suffix = if compression { "on" } else { "off" };
    let echo = bridge::connect(addr, &format!("echo-{suffix}"), options.clone())
        .await
        .expect("echo joins");
    let caller = bridge::connect(addr, &format!("caller-{suffix}"), options)
        .await
        .expect("caller joins");
    echo.register_rpc_method("echo", |d| async move { Ok(d.payload) })
        .unwrap();
    let bytes_back = byte_echo::serve(&echo, &caller);
    Pair {
        caller,
        bytes_back,
        _echo: echo,
    }
}

impl Pair {
    fn echo_identity(&self) -> String {
        self.caller.identity().replace("caller", "echo")
    }

    async fn rpc_echo(&self, payload: &str) -> Duration {
        let started = Instant::now();
        let reply = self
            .caller
            .perform_rpc(PerformRpcData {
                destination_identity: self.echo_identity(),
                method: "echo".into(),
                payload: payload.to_owned(),
                response_timeout: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .expect("echo call");
        assert_eq!(reply.len(), payload.len());
        started.elapsed()
    }

    async fn bytes_echo(&mut self, payload: &[u8]) -> Duration {
        let started = Instant::now();
        self.caller
            .send_bytes(payload, byte_echo::to(&self.echo_identity()))
            .await
            .expect("send bytes");
        let back = self.bytes_back.recv().await.expect("bytes echoed");
        assert_eq!(back.len(), payload.len());
        started.elapsed()
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn measure() {
    let room = MemoryRoom::new();
    let server = bridge::serve(room, "127.0.0.1:0")
        .await
        .expect("bridge listens");
    let mut on = pair(server.local_addr(), true).await;
    let mut off = pair(server.local_addr(), false).await;

    let mut noise = payloads::Noise::new(7);
    let json = payloads::json_records(SIZE, &mut noise);
    let base64 = payloads::base64_of_random(SIZE, &mut noise);
    let random = payloads::random_bytes(SIZE, &mut noise);

    // Warm both pairs once, then alternate on and off so both see the same machine.
    on.rpc_echo("warm").await;
    off.rpc_echo("warm").await;
    let mut samples: [(Vec<Duration>, Vec<Duration>); 3] = Default::default();
    for round in 0..ROUNDS {
        let order: [bool; 2] = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for compressed in order {
            let p = if compressed { &mut on } else { &mut off };
            let t = (
                p.rpc_echo(&json).await,
                p.rpc_echo(&base64).await,
                p.bytes_echo(&random).await,
            );
            let slot = |s: &mut (Vec<Duration>, Vec<Duration>), d| {
                if compressed {
                    s.0.push(d)
                } else {
                    s.1.push(d)
                }
            };
            slot(&mut samples[0], t.0);
            slot(&mut samples[1], t.1);
            slot(&mut samples[2], t.2);
        }
    }

    println!("| 5 MB echo over the bridge, link shaped to {RATE}, median of {ROUNDS} | compression on (default) | compression off | on / off | target |");
    println!("|---|---|---|---|---|");
    let names = [
        "JSON records (RPC)",
        "base64 of random bytes (RPC)",
        "random bytes (byte stream)",
    ];
    for (i, (on, off)) in samples.into_iter().enumerate() {
        let (on, off) = (median(on), median(off));
        let ratio = on.as_secs_f64() / off.as_secs_f64();
        let target = match i {
            0 => format!("≤ 0.5x: {}", if ratio <= 0.5 { "met" } else { "missed" }),
            2 => format!(
                "0.91x–1.1x: {}",
                if (1.0 / 1.1..=1.1).contains(&ratio) {
                    "met"
                } else {
                    "missed"
                }
            ),
            _ => "—".to_owned(),
        };
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.2}x | {target} |",
            names[i],
            on.as_secs_f64() * 1e3,
            off.as_secs_f64() * 1e3,
            ratio
        );
    }
}
