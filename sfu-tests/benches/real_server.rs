//! RPC through a real livekit-server next to the floor the same participants measure in
//! the same run: a small call against one data packet's round trip (an inline text
//! stream, a single `DataPacket` each way), and a 5 MB echo (compressed and not) against
//! the same 5 MB sent there and back as text streams; and a stream of items against the
//! same items as separate calls. Prints markdown tables;
//! `benches/write_benchmarks.sh` puts it in BENCHMARKS.md.
//!
//! `cargo bench -p livekit-typed-rpc-sfu-tests --bench real_server`

#[path = "../../benches/payloads.rs"]
mod payloads;

#[path = "../../benches/byte_echo.rs"]
mod byte_echo;

#[path = "../../benches/stream_vs_calls.rs"]
mod stream_vs_calls;

use std::time::{Duration, Instant};

use livekit_typed_rpc::streams::SendTextOptions;
use livekit_typed_rpc::{sfu, JoinOptions, Participant, PerformRpcData, RpcInvocationData};
use livekit_typed_rpc_sfu_tests::LiveKitServer;
use tokio::sync::mpsc;

const SMALL_ROUNDS: usize = 400;
const LARGE_ROUNDS: usize = 15;
const LARGE: usize = 5_000_000;
const FLOOR_TOPIC: &str = "bench.floor";

struct Pair {
    caller: Participant,
    echo: Participant,
    /// What the caller's floor handler received back.
    floor_back: mpsc::UnboundedReceiver<String>,
    /// What the caller's byte-stream handler received back.
    bytes_back: mpsc::UnboundedReceiver<Vec<u8>>,
}

async fn pair(server: &LiveKitServer, room: &str, compression: bool) -> Pair {
    let options = JoinOptions {
        compression,
        ..Default::default()
    };
    let join = |identity: &'static str| {
        let options = options.clone();
        async move {
            sfu::connect(server.url(), &server.token(room, identity), options)
                .await
                .expect("join the bench room")
        }
    };
    let echo = join("echo").await;
    let caller = join("caller").await;
    echo.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    // The floor: whatever text arrives on the topic goes straight back to its sender.
    let responder = echo.clone();
    echo.register_text_stream_handler(FLOOR_TOPIC, move |reader| {
        let responder = responder.clone();
        tokio::spawn(async move {
            let sender = reader.sender_identity().to_owned();
            if let Ok(text) = reader.read_all().await {
                let _ = responder
                    .send_text(&text, floor_options(&sender, compression))
                    .await;
            }
        });
    })
    .unwrap();
    let bytes_back = byte_echo::serve(&echo, &caller);
    let (back, floor_back) = mpsc::unbounded_channel();
    caller
        .register_text_stream_handler(FLOOR_TOPIC, move |reader| {
            let back = back.clone();
            tokio::spawn(async move {
                if let Ok(text) = reader.read_all().await {
                    let _ = back.send(text);
                }
            });
        })
        .unwrap();
    // Both must know each other, or the server's join batching (3 s) shows up as latency.
    for (p, other) in [(&caller, "echo"), (&echo, "caller")] {
        p.wait_for_participant(other, Duration::from_secs(10))
            .await
            .expect("the pair sees each other");
    }
    Pair {
        caller,
        echo,
        floor_back,
        bytes_back,
    }
}

fn floor_options(destination: &str, compress: bool) -> SendTextOptions {
    SendTextOptions {
        topic: FLOOR_TOPIC.into(),
        destination_identities: vec![destination.to_owned()],
        compress,
        ..Default::default()
    }
}

impl Pair {
    async fn call(&self, payload: &str) -> Duration {
        let started = Instant::now();
        let reply = self
            .caller
            .perform_rpc(PerformRpcData {
                destination_identity: "echo".into(),
                method: "echo".into(),
                payload: payload.to_owned(),
                response_timeout: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .expect("echo call");
        let elapsed = started.elapsed();
        assert_eq!(reply.len(), payload.len());
        elapsed
    }

    async fn floor(&mut self, payload: &str, compress: bool) -> Duration {
        let started = Instant::now();
        self.caller
            .send_text(payload, floor_options("echo", compress))
            .await
            .expect("floor send");
        let back = self.floor_back.recv().await.expect("floor echo");
        let elapsed = started.elapsed();
        assert_eq!(back.len(), payload.len());
        elapsed
    }
}

impl Pair {
    async fn bytes_echo(&mut self, payload: &[u8]) -> Duration {
        let started = Instant::now();
        self.caller
            .send_bytes(payload, byte_echo::to("echo"))
            .await
            .expect("bytes send");
        let back = self.bytes_back.recv().await.expect("bytes echo");
        let elapsed = started.elapsed();
        assert!(back == payload, "the bytes came back different");
        elapsed
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = LiveKitServer::shared();
    let mut rows = Vec::new();
    let mut echoes = Vec::new();
    // Per kind of payload: the RPC echo's median with compression on, then off.
    let mut by_kind: Vec<(&str, Vec<Duration>)> = vec![
        ("JSON records", Vec::new()),
        ("base64 of random bytes", Vec::new()),
        ("random bytes (a byte stream, not RPC)", Vec::new()),
    ];

    // Small calls, interleaved with the floor so both see the same machine.
    let mut pair_small = pair(&server, "bench-small", true).await;
    for _ in 0..20 {
        pair_small.call("warm").await;
        pair_small.floor("warm", true).await;
    }
    let (mut rpc, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..SMALL_ROUNDS {
        rpc.push(pair_small.call(r#"{"joint":2,"angle":41.5}"#).await);
        floor.push(pair_small.floor(r#"{"joint":2,"angle":41.5}"#, true).await);
    }
    let (rpc50, rpc99) = (percentile(&mut rpc, 0.5), percentile(&mut rpc, 0.99));
    let (floor50, floor99) = (percentile(&mut floor, 0.5), percentile(&mut floor, 0.99));
    rows.push(format!(
        "| small call through livekit-server, p50 / p99 | {:.2} / {:.2} ms | one data packet's round trip (inline text stream): {:.2} / {:.2} ms | {:.2}x / {:.2}x |",
        ms(rpc50), ms(rpc99), ms(floor50), ms(floor99),
        ms(rpc50) / ms(floor50), ms(rpc99) / ms(floor99)
    ));
    drop(pair_small);

    for compression in [true, false] {
        let room = if compression {
            "bench-large-deflate"
        } else {
            "bench-large-plain"
        };
        let mut p = pair(&server, room, compression).await;
        let payload = payloads::json_records(LARGE, &mut payloads::Noise::new(3));
        p.call(&payload).await;
        p.floor(&payload, compression).await;
        let (mut rpc, mut floor) = (Vec::new(), Vec::new());
        for _ in 0..LARGE_ROUNDS {
            rpc.push(p.call(&payload).await);
            floor.push(p.floor(&payload, compression).await);
        }
        let (rpc50, floor50) = (percentile(&mut rpc, 0.5), percentile(&mut floor, 0.5));
        echoes.push((rpc50, floor50));
        by_kind[0].1.push(rpc50);
        let base64 = payloads::base64_of_random(LARGE, &mut payloads::Noise::new(5));
        p.call(&base64).await;
        let mut samples = Vec::new();
        for _ in 0..LARGE_ROUNDS {
            samples.push(p.call(&base64).await);
        }
        by_kind[1].1.push(percentile(&mut samples, 0.5));
        let random = payloads::random_bytes(LARGE, &mut payloads::Noise::new(9));
        p.bytes_echo(&random).await;
        let mut samples = Vec::new();
        for _ in 0..LARGE_ROUNDS {
            samples.push(p.bytes_echo(&random).await);
        }
        by_kind[2].1.push(percentile(&mut samples, 0.5));
        let label = if compression {
            "deflate-raw"
        } else {
            "uncompressed"
        };
        rows.push(format!(
            "| 5 MB JSON echo through livekit-server, {label}, median of {LARGE_ROUNDS} | {:.1} ms, {:.0} MB/s | the same 5 MB there and back as text streams: {:.1} ms | {:.2}x |",
            ms(rpc50),
            2.0 * LARGE as f64 / rpc50.as_secs_f64() / 1e6,
            ms(floor50),
            ms(rpc50) / ms(floor50)
        ));
        drop(p.echo);
    }

    println!("| measurement | RPC | floor (same participants, same run) | ratio |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    println!();
    println!("| 5 MB RPC echo through livekit-server, median of {LARGE_ROUNDS} | compression on (default) | compression off | on / off |");
    println!("|---|---|---|---|");
    for (kind, medians) in &by_kind {
        if let [on, off] = medians[..] {
            println!(
                "| {kind} | {:.1} ms | {:.1} ms | {:.2}x |",
                ms(on),
                ms(off),
                ms(on) / ms(off)
            );
        }
    }
    if let [(deflate, deflate_floor), (plain, plain_floor)] = echoes[..] {
        println!();
        println!(
            "- Uncompressed, 5 MB cross the server at {:.0} MB/s with RPC and {:.0} MB/s as plain text streams (the data-channel path, our SCTP to the server's and back, runs far below what either end's CPU could do: it is the bound, and its speed varies from run to run). Compressed, the same JSON records cross as a fraction of the bytes, so the echo takes {:.0}x less time ({:.0}x for the plain streams): on this link compression pays.",
            2.0 * LARGE as f64 / plain.as_secs_f64() / 1e6,
            2.0 * LARGE as f64 / plain_floor.as_secs_f64() / 1e6,
            plain.as_secs_f64() / deflate.as_secs_f64(),
            plain_floor.as_secs_f64() / deflate_floor.as_secs_f64(),
        );
    }

    // A stream of items against the same items as separate calls, through the server.
    let feed = sfu::connect(
        server.url(),
        &server.token("bench-stream", "feed"),
        JoinOptions::default(),
    )
    .await
    .expect("join the stream bench room");
    let caller = sfu::connect(
        server.url(),
        &server.token("bench-stream", "caller"),
        JoinOptions::default(),
    )
    .await
    .expect("join the stream bench room");
    let _serving = stream_vs_calls::serve(&feed);
    for (p, other) in [(&caller, "feed"), (&feed, "caller")] {
        p.wait_for_participant(other, Duration::from_secs(10))
            .await
            .expect("both participants see each other");
    }
    let rows = stream_vs_calls::measure(&caller, "feed", "through livekit-server").await;
    println!();
    println!("| measurement | one stream | separate calls | stream / calls |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
