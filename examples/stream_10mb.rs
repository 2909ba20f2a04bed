//! Sends a 10 MB text stream between two participants of an in-process room and prints
//! what went over the wire: how many packets, and whether they were compressed.
//!
//! Run with `cargo run --example stream_10mb`.

use std::time::Instant;

use livekit_typed_rpc::proto::data_packet;
use livekit_typed_rpc::streams::SendTextOptions;
use livekit_typed_rpc::{JoinOptions, MemoryRoom};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Log lines of several kinds, so the text compresses the way real payloads do.
    let mut text = String::with_capacity(10_000_000);
    let mut n = 0u64;
    while text.len() < 10_000_000 {
        n += 1;
        text.push_str(&format!(
            "{{\"seq\":{n},\"level\":\"{}\",\"msg\":\"sensor {} read {:.3}\"}}\n",
            ["info", "warn", "debug"][(n % 3) as usize],
            n % 17,
            (n as f64 * 0.731).sin()
        ));
    }
    text.truncate(10_000_000);

    for (label, compression) in [("with deflate-raw", true), ("without compression", false)] {
        let room = MemoryRoom::new();
        let recorder = room.record_packets();
        let receiver = room.join("receiver").await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        receiver.register_text_stream_handler("logs", move |reader| {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                tokio::spawn(async move {
                    let _ = tx.send(reader.read_all().await);
                });
            }
        })?;
        let sender = room
            .join_with(
                "sender",
                JoinOptions {
                    compression,
                    ..Default::default()
                },
            )
            .await?;

        let started = Instant::now();
        let sent = sender
            .send_text(&text, SendTextOptions::topic("logs"))
            .await?;
        let received = rx.await??;
        let elapsed = started.elapsed();
        assert_eq!(
            received, text,
            "the receiver must get exactly what was sent"
        );

        let packets = recorder.take();
        let chunks = packets
            .iter()
            .filter(|p| matches!(p.packet.value, Some(data_packet::Value::StreamChunk(_))))
            .count();
        println!("10 MB text stream {label}:");
        println!(
            "  {} packets on the wire (1 header, {chunks} chunks, 1 trailer), inline: {}",
            sent.packets, sent.inline
        );
        println!(
            "  compressed: {} ({} bytes of payload became {} bytes on the wire, {:.1}%)",
            sent.compressed,
            sent.payload_bytes,
            sent.wire_payload_bytes,
            100.0 * sent.wire_payload_bytes as f64 / sent.payload_bytes as f64
        );
        println!("  received intact in {elapsed:.2?}\n");
    }
    Ok(())
}
