//! Memory stays bounded: a 200 MB payload through RPC v2 keeps the peak resident memory
//! of the whole process (caller and handler together) under a stated multiple of the
//! payload. Alone in its own test binary so nothing else shares the measurement.

use livekit_typed_rpc::{JoinOptions, MemoryRoom, PerformRpcData, RpcInvocationData};

const PAYLOAD: usize = 200_000_000;
/// Measured here: 3.0x (the caller's payload and its compressed copy, the chunks in
/// flight, and the handler's reassembled request). Stated with headroom; a change that
/// buffers a stream once more trips it.
const MAX_MULTIPLE: f64 = 4.5;

#[path = "support/rss.rs"]
mod rss;
use rss::status_kb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_megabytes_through_rpc_v2_stays_bounded() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: peak memory cannot be measured on this platform");
        return;
    }
    let before = status_kb("VmHWM:") * 1024;
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("digest", |d: RpcInvocationData| async move {
            Ok(format!(
                "{}:{}",
                d.payload.len(),
                d.payload.bytes().map(u64::from).sum::<u64>()
            ))
        })
        .unwrap();
    let caller = room
        .join_with("caller", JoinOptions::default())
        .await
        .unwrap();
    // Text that compresses like real data, not like a run of one byte.
    let payload: String = (0..PAYLOAD)
        .map(|i| (b'a' + ((i * 7 + i / 13) % 26) as u8) as char)
        .collect();
    let expected = format!(
        "{}:{}",
        payload.len(),
        payload.bytes().map(u64::from).sum::<u64>()
    );
    let reply = caller
        .perform_rpc(PerformRpcData {
            destination_identity: "server".into(),
            method: "digest".into(),
            payload,
            response_timeout: std::time::Duration::from_secs(300),
            max_round_trip_latency: std::time::Duration::from_secs(300),
        })
        .await
        .unwrap();
    assert_eq!(reply, expected);
    let peak = status_kb("VmHWM:") * 1024;
    let multiple = peak.saturating_sub(before) as f64 / PAYLOAD as f64;
    println!(
        "peak resident growth: {:.1} MB for a {} MB payload = {multiple:.2}x",
        (peak - before) as f64 / 1e6,
        PAYLOAD / 1_000_000
    );
    assert!(
        multiple < MAX_MULTIPLE,
        "peak grew {multiple:.2}x the payload (limit {MAX_MULTIPLE}x)"
    );
    assert_eq!(caller.diagnostics().pending_calls, 0);
    assert_eq!(server.diagnostics().open_incoming_streams, 0);
}
