//! Streaming results against separate calls in one process (`MemoryRoom`): items per
//! second and one item's latency, both measured in the same run. Prints a markdown table;
//! `benches/write_benchmarks.sh` puts it in BENCHMARKS.md.
//!
//! `cargo bench --workspace --bench streaming`

#[path = "stream_vs_calls.rs"]
mod stream_vs_calls;

use livekit_typed_rpc::MemoryRoom;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let room = MemoryRoom::new();
    let server = room.join("feed").await.unwrap();
    let caller = room.join("caller").await.unwrap();
    let _serving = stream_vs_calls::serve(&server);
    let rows = stream_vs_calls::measure(&caller, "feed", "in one process").await;
    println!("| measurement | one stream | separate calls | stream / calls |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
