//! `cargo bench`: what the typed layer and the wire protocol cost, as ratios against a
//! baseline measured in the same run.
//!
//! - typed call vs raw string call: the same echo over the same in-process room, once
//!   through `perform_rpc` with a hand-built JSON string, once through a generated client;
//! - payload throughput vs a plain copy: 1 MB through RPC v2 (compressed and not) against
//!   copying the same bytes;
//! - an honest caller's latency while another participant floods the same server with
//!   100 000 requests, against the same caller's latency without the flood.

mod estimates;

use std::time::Duration;

use estimates::mean_ns;

use criterion::{criterion_group, Criterion};
use livekit_typed_rpc::{
    livekit_rpc, JoinOptions, MemoryRoom, Participant, PerformRpcData, RpcInvocationData, Serving,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Reading {
    pub sensor: String,
    pub values: Vec<f64>,
}

/// The benchmarked service.
#[livekit_rpc]
pub trait Echo {
    /// Returns its argument.
    async fn echo(&self, reading: Reading) -> Reading;
    /// Returns its argument untouched.
    #[rpc(raw)]
    async fn echo_raw(&self, text: String) -> String;
}

struct Impl;
impl Echo for Impl {
    async fn echo(&self, reading: Reading) -> Reading {
        reading
    }
    async fn echo_raw(&self, text: String) -> String {
        text
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    caller: Participant,
    client: EchoClient,
    _serving: Serving,
    _server: Participant,
}

fn setup(server_options: JoinOptions) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (caller, client, serving, server) = rt.block_on(async {
        let room = MemoryRoom::new();
        let server = room.join_with("server", server_options).await.unwrap();
        let serving = server.serve(EchoServer::new(Impl)).unwrap();
        server
            .register_rpc_method(
                "raw-echo",
                |d: RpcInvocationData| async move { Ok(d.payload) },
            )
            .unwrap();
        let caller = room.join("caller").await.unwrap();
        let client = EchoClient::new(caller.clone(), "server");
        (caller, client, serving, server)
    });
    Setup {
        rt,
        caller,
        client,
        _serving: serving,
        _server: server,
    }
}

fn reading() -> Reading {
    Reading {
        sensor: "arm-2/joint-3".into(),
        values: (0..16).map(|i| i as f64 * 0.5).collect(),
    }
}

fn calls(c: &mut Criterion) {
    let s = setup(JoinOptions::default());
    let json = serde_json::to_string(&serde_json::json!({ "reading": reading() })).unwrap();
    // Measure only calls that work.
    s.rt.block_on(async {
        assert_eq!(s.client.echo(reading()).await.unwrap().values.len(), 16);
        let raw = s.caller.perform_rpc(PerformRpcData {
            destination_identity: "server".into(),
            method: "raw-echo".into(),
            payload: json.clone(),
            ..Default::default()
        });
        assert_eq!(raw.await.unwrap(), json);
    });
    let mut group = c.benchmark_group("call");
    group.bench_function("raw_string", |b| {
        b.to_async(&s.rt).iter(|| {
            s.caller.perform_rpc(PerformRpcData {
                destination_identity: "server".into(),
                method: "raw-echo".into(),
                payload: json.clone(),
                ..Default::default()
            })
        })
    });
    group.bench_function("typed", |b| {
        b.to_async(&s.rt).iter(|| s.client.echo(reading()))
    });
    group.finish();
}

fn payloads(c: &mut Criterion) {
    let payload: String = (0..1_000_000)
        .map(|i| (b'a' + ((i * 7 + i / 13) % 26) as u8) as char)
        .collect();
    let mut group = c.benchmark_group("payload_1mb");
    group.throughput(criterion::Throughput::Bytes(payload.len() as u64));
    group.bench_function("plain_copy", |b| {
        b.iter(|| std::hint::black_box(payload.clone()))
    });
    for (name, compression) in [("rpc_v2_uncompressed", false), ("rpc_v2_deflate", true)] {
        let s = setup(JoinOptions {
            compression,
            ..Default::default()
        });
        s.rt.block_on(async {
            assert_eq!(
                s.client.echo_raw(payload.clone()).await.unwrap().len(),
                payload.len()
            )
        });
        group.bench_function(name, |b| {
            b.to_async(&s.rt)
                .iter(|| s.client.echo_raw(payload.clone()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = calls, payloads
}

/// p50 and p99 of `samples`, in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

/// Sequential small calls from an honest caller, with or without a hostile participant
/// publishing 100 000 requests to a slow method of the same server meanwhile.
fn honest_latency(with_flood: bool) -> (f64, f64, u64) {
    use livekit_typed_rpc::proto::{self, data_packet, RpcRequest};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let room = MemoryRoom::new();
        let server = room.join("server").await.unwrap();
        server
            .register_rpc_method("slow", |_d: RpcInvocationData| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(String::new())
            })
            .unwrap();
        server
            .register_rpc_method("fast", |d: RpcInvocationData| async move { Ok(d.payload) })
            .unwrap();
        let honest = room.join("honest").await.unwrap();
        let hostile = room.connect("hostile", JoinOptions::default()).unwrap();
        let mut answers = hostile.events;
        let drain = tokio::spawn(async move { while answers.recv().await.is_some() {} });
        let transport = hostile.transport;
        let flood = tokio::spawn(async move {
            if !with_flood {
                return;
            }
            for i in 0..100_000u32 {
                let packet = proto::reliable_packet(
                    vec!["server".into()],
                    data_packet::Value::RpcRequest(RpcRequest {
                        id: format!("h{i}"),
                        method: "slow".into(),
                        payload: "{}".into(),
                        response_timeout_ms: 10_000,
                        version: 1,
                        ..Default::default()
                    }),
                );
                let _ = transport.publish(packet).await;
                if i % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut samples = Vec::with_capacity(2000);
        for i in 0..2000 {
            let started = std::time::Instant::now();
            let reply = honest
                .perform_rpc(PerformRpcData {
                    destination_identity: "server".into(),
                    method: "fast".into(),
                    payload: i.to_string(),
                    ..Default::default()
                })
                .await;
            assert_eq!(reply.unwrap(), i.to_string());
            samples.push(started.elapsed());
        }
        flood.await.unwrap();
        drain.abort();
        let (p50, p99) = percentiles(samples);
        (p50, p99, server.diagnostics().refused_overloaded)
    })
}

fn main() {
    benches();
    Criterion::default().final_summary();
    println!("\nratios measured in this run:");
    if let (Some(raw), Some(typed)) = (mean_ns("call", "raw_string"), mean_ns("call", "typed")) {
        println!(
            "  typed call / raw string call          = {:.2}x",
            typed / raw
        );
    }
    if let Some(copy) = mean_ns("payload_1mb", "plain_copy") {
        for name in ["rpc_v2_uncompressed", "rpc_v2_deflate"] {
            if let Some(t) = mean_ns("payload_1mb", name) {
                println!(
                    "  1 MB echo over {name:<20} / plain copy = {:.0}x",
                    t / copy
                );
            }
        }
    }
    let (quiet_p50, quiet_p99, _) = honest_latency(false);
    let (p50, p99, refused) = honest_latency(true);
    println!(
        "  honest caller during a 100 000-request flood: p50 {p50:.0} µs, p99 {p99:.0} µs \
         (without the flood: p50 {quiet_p50:.0} µs, p99 {quiet_p99:.0} µs) = p50 {:.1}x, p99 {:.1}x; \
         {refused} flood requests refused as load",
        p50 / quiet_p50,
        p99 / quiet_p99
    );
}
