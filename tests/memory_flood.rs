//! A hostile flood cannot grow memory without bound: 100 000 requests as fast as one
//! participant can publish them keep the server's peak resident memory under the bound
//! the queue limits imply. Alone in its own test binary so nothing else shares the
//! measurement.

mod support;

use support::rss::status_kb;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use livekit_typed_rpc::proto::{data_packet, RpcRequest};
use livekit_typed_rpc::room::RoomEvent;
use livekit_typed_rpc::{MemoryRoom, RpcInvocationData, RpcLimits};
use support::RawPeer;

/// Measured here: 83–84 MB (16 384 queued calls of 1 KB each with their tasks, about
/// 4 KB of bookkeeping per queued call, plus the answers in flight). The bound leaves
/// room for allocator variance; an unbounded queue would hold all 100 000 calls (over
/// 400 MB) and trip it.
const MAX_GROWTH_BYTES: u64 = 120_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_hundred_thousand_requests_stays_bounded() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: peak memory cannot be measured on this platform");
        return;
    }
    let before = status_kb("VmHWM:") * 1024;
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("slow", |_d: RpcInvocationData| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(String::new())
        })
        .unwrap();
    let hostile = RawPeer::join(&room, "hostile", 0, false);
    let RawPeer {
        transport,
        mut events,
        ..
    } = hostile;
    // The hostile side reads and drops its answers, as a flooding client would.
    let acked = Arc::new(AtomicU64::new(0));
    let counter = acked.clone();
    let drain = tokio::spawn(async move {
        let (mut acks, mut overloaded) = (0u64, 0u64);
        while acks < 100_000 {
            match events.recv().await {
                Some(RoomEvent::Data(p)) => match p.value {
                    Some(data_packet::Value::RpcAck(_)) => {
                        acks += 1;
                        counter.store(acks, Ordering::Relaxed);
                    }
                    Some(data_packet::Value::RpcResponse(_)) => overloaded += 1,
                    _ => {}
                },
                Some(_) => {}
                None => break,
            }
        }
        (acks, overloaded)
    });
    // 1 KB of payload each, so queued bytes count too.
    let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
    for i in 0..100_000u64 {
        let packet = livekit_typed_rpc::proto::reliable_packet(
            vec!["server".into()],
            data_packet::Value::RpcRequest(RpcRequest {
                id: format!("h{i}"),
                method: "slow".into(),
                payload: payload.clone(),
                response_timeout_ms: 60_000,
                version: 1,
                ..Default::default()
            }),
        );
        transport.publish(packet).await.unwrap();
        // As fast as the server takes them in: a network, unlike this in-process room,
        // holds no unbounded backlog of the flooder's packets, so neither does the test.
        while i.saturating_sub(acked.load(Ordering::Relaxed)) > 1024 {
            tokio::task::yield_now().await;
        }
    }
    let (acks, _) = tokio::time::timeout(Duration::from_secs(60), drain)
        .await
        .expect("the server acknowledges the whole flood")
        .unwrap();
    assert_eq!(acks, 100_000);
    let d = server.diagnostics();
    let limits = RpcLimits::default();
    assert!(
        d.queued_calls <= limits.max_queued_calls_per_caller,
        "{d:?}"
    );
    assert!(d.refused_overloaded > 50_000, "{d:?}");
    let peak = status_kb("VmHWM:") * 1024;
    let growth = peak.saturating_sub(before);
    println!(
        "peak resident growth during a flood of 100 000 requests: {:.1} MB ({} queued, {} refused as load)",
        growth as f64 / 1e6,
        d.queued_calls,
        d.refused_overloaded
    );
    assert!(
        growth < MAX_GROWTH_BYTES,
        "peak grew {growth} bytes (bound {MAX_GROWTH_BYTES})"
    );
    transport.leave();
}
