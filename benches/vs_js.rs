//! `cargo bench --bench vs_js`: the same work done by LiveKit's JavaScript SDK and by this
//! crate, over the same room wire bridge, with the ratio printed from one run. Two
//! livekit-client 2.23.0 participants in Node (one calling, one echoing) against two Rust
//! participants joined through `bridge::connect`, each doing sequential echo calls of a
//! 64 KiB payload (RPC v2, compressed) and of a 100-byte payload.
//!
//! Needs Node.js 20+ and npm, like the interop tests (the SDK is installed with `npm ci`).

#[path = "../tests/support/js.rs"]
mod js;

mod estimates;

use std::time::Duration;

use estimates::mean_ns;

use criterion::Criterion;
use livekit_typed_rpc::{
    bridge, JoinOptions, MemoryRoom, Participant, PerformRpcData, RpcInvocationData,
};
use serde_json::json;

struct Peers {
    rt: tokio::runtime::Runtime,
    _room: MemoryRoom,
    _bridge: bridge::BridgeServer,
    rust_caller: Participant,
    _rust_server: Participant,
    js_caller: tokio::sync::Mutex<js::JsPeer>,
    _js_server: js::JsPeer,
}

fn peers() -> Peers {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (room, server, rust_caller, rust_server, js_caller, js_server) = rt.block_on(async {
        let room = MemoryRoom::new();
        let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let rust_server = bridge::connect(addr, "rust-server", JoinOptions::default())
            .await
            .unwrap();
        rust_server
            .register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
            .unwrap();
        let rust_caller = bridge::connect(addr, "rust-caller", JoinOptions::default())
            .await
            .unwrap();
        rust_caller
            .wait_for_participant("rust-server", Duration::from_secs(10))
            .await
            .unwrap();
        let mut js_server = js::JsPeer::join(addr, "js-server", 2, true).await;
        js_server.register("echo", "echo").await;
        let mut js_caller = js::JsPeer::join(addr, "js-caller", 2, true).await;
        loop {
            let e = js_caller.expect_event("joined").await;
            if e["identity"] == "js-server" {
                break;
            }
        }
        (room, server, rust_caller, rust_server, js_caller, js_server)
    });
    Peers {
        rt,
        _room: room,
        _bridge: server,
        rust_caller,
        _rust_server: rust_server,
        js_caller: tokio::sync::Mutex::new(js_caller),
        _js_server: js_server,
    }
}

fn payload(len: usize) -> String {
    (0..len)
        .map(|i| (b'a' + ((i * 7 + i / 13) % 26) as u8) as char)
        .collect()
}

fn bench(c: &mut Criterion, p: &Peers, label: &str, size: usize) {
    let text = payload(size);
    let mut group = c.benchmark_group(format!("echo_{label}_over_bridge"));
    group.bench_function("rust", |b| {
        b.to_async(&p.rt).iter(|| {
            p.rust_caller.perform_rpc(PerformRpcData {
                destination_identity: "rust-server".into(),
                method: "echo".into(),
                payload: text.clone(),
                ..Default::default()
            })
        })
    });
    group.bench_function("javascript", |b| {
        b.to_async(&p.rt).iter_custom(|iters| {
            let text = text.clone();
            async move {
                let mut js = p.js_caller.lock().await;
                let r = js
                    .request(json!({"cmd": "bench_calls", "destination": "js-server", "method": "echo", "payload": text, "count": iters}))
                    .await;
                let nanos: u64 = r["ok"].as_str().and_then(|s| s.parse().ok()).expect("the harness timed the calls");
                Duration::from_nanos(nanos)
            }
        })
    });
    group.finish();
}

fn main() {
    let p = peers();
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    bench(&mut c, &p, "100b", 100);
    bench(&mut c, &p, "64kib", 64 * 1024);
    c.final_summary();
    println!("\nratios measured in this run (JavaScript SDK time / this crate's time, same work):");
    for label in ["100b", "64kib"] {
        let group = format!("echo_{label}_over_bridge");
        if let (Some(rust), Some(js)) = (mean_ns(&group, "rust"), mean_ns(&group, "javascript")) {
            println!("  echo {label:<6} javascript / rust = {:.2}x", js / rust);
        }
    }
}
