//! `cargo bench`: what the typed layer and the wire protocol cost, as ratios against a
//! baseline measured in the same run.
//!
//! - typed call vs raw string call: the same echo over the same in-process room, once
//!   through `perform_rpc` with a hand-built JSON string, once through a generated client;
//! - payload throughput vs a plain copy: 1 MB through RPC v2 (compressed and not) against
//!   copying the same bytes.

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
}
