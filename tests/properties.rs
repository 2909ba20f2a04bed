//! Properties: any sequence of stream packets from any number of senders, faults
//! included, leaves the receiver standing, and every stream either delivers exactly the
//! bytes sent or fails; any payload round-trips byte for byte through every RPC path.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use livekit_typed_rpc::proto::{self, data_packet};
use livekit_typed_rpc::streams::{ByteStreamReader, TextStreamReader};
use livekit_typed_rpc::{JoinOptions, MemoryRoom, PerformRpcData, RpcInvocationData};
use proptest::prelude::*;
use support::*;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
enum Fault {
    None,
    /// Drop chunk `n` (only generated when the header announces the length).
    DropChunk(usize),
    DuplicateChunk(usize),
    SwapChunks(usize),
    /// The sender leaves before the trailer.
    Truncate,
    AbnormalTrailer,
    WrongLength(i64),
}

#[derive(Debug, Clone)]
struct StreamSpec {
    sender: usize,
    text: bool,
    content: Vec<u8>,
    compressed: bool,
    inline: bool,
    announce_length: bool,
    piece: usize,
    fault: Fault,
}

fn stream_spec() -> impl Strategy<Value = StreamSpec> {
    (
        0usize..3,
        any::<bool>(),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            proptest::collection::vec(any::<u8>(), 0..40_000),
            proptest::collection::vec(0u8..4, 0..60_000),
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(7usize), Just(1_000), Just(15_000)],
        prop_oneof![
            4 => Just(Fault::None),
            1 => (0usize..8).prop_map(Fault::DropChunk),
            1 => (0usize..8).prop_map(Fault::DuplicateChunk),
            1 => (0usize..8).prop_map(Fault::SwapChunks),
            1 => Just(Fault::Truncate),
            1 => Just(Fault::AbnormalTrailer),
            1 => (-50i64..50).prop_map(Fault::WrongLength),
        ],
    )
        .prop_map(
            |(sender, text, raw, compressed, inline, announce_length, piece, fault)| {
                // Text streams carry text: map the bytes onto a mix of 1- to 4-byte characters.
                let content = if text {
                    raw.iter()
                        .map(|b| ['a', 'é', '€', '😀', 'z', '\n'][*b as usize % 6])
                        .collect::<String>()
                        .into_bytes()
                } else {
                    raw
                };
                let fault = match fault {
                    Fault::DropChunk(_) if !announce_length => Fault::None,
                    other => other,
                };
                StreamSpec {
                    sender,
                    text,
                    content,
                    compressed,
                    inline,
                    announce_length,
                    piece,
                    fault,
                }
            },
        )
}

/// The packets of one stream, as a sender (or a faulty network) produces them.
fn packets(id: &str, spec: &StreamSpec) -> Vec<data_packet::Value> {
    let total = spec.announce_length.then_some(spec.content.len() as u64);
    let total = match (&spec.fault, total) {
        (Fault::WrongLength(d), Some(t)) => Some((t as i64 + d).max(0) as u64),
        (Fault::WrongLength(d), None) => Some((spec.content.len() as i64 + d).max(0) as u64),
        (_, t) => t,
    };
    let mut h = if spec.text {
        text_header(id, "t", total)
    } else {
        byte_header(id, "t", total)
    };
    let body = if spec.compressed {
        deflate_raw(&spec.content)
    } else {
        spec.content.clone()
    };
    if spec.compressed {
        h.compression = proto::COMPRESSION_DEFLATE_RAW;
    }
    if spec.inline && body.len() < 14_000 {
        h.inline_content = Some(body);
        return vec![header_packet(h)];
    }
    let pieces: Vec<Vec<u8>> = if spec.text && !spec.compressed {
        livekit_typed_rpc::streams::split_utf8(&body, spec.piece.max(4))
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        body.chunks(spec.piece).map(<[u8]>::to_vec).collect()
    };
    let mut chunks: Vec<data_packet::Value> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| chunk(id, i as u64, p))
        .collect();
    match spec.fault {
        Fault::DropChunk(n) if !chunks.is_empty() => {
            chunks.remove(n % chunks.len());
        }
        Fault::DuplicateChunk(n) if !chunks.is_empty() => {
            let i = n % chunks.len();
            chunks.insert(i + 1, chunks[i].clone());
        }
        Fault::SwapChunks(n) if chunks.len() > 1 => {
            let i = n % (chunks.len() - 1);
            chunks.swap(i, i + 1);
        }
        _ => {}
    }
    let mut all = vec![header_packet(h)];
    all.extend(chunks);
    match spec.fault {
        Fault::Truncate => {}
        Fault::AbnormalTrailer => all.push(trailer(id, "sender gave up", &[])),
        _ => all.push(trailer(id, "", &[])),
    }
    all
}

enum Reader {
    Text(TextStreamReader),
    Bytes(ByteStreamReader),
}

fn check_streams(specs: Vec<StreamSpec>, interleave_seed: u64) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let room = MemoryRoom::new();
        let receiver = room.join_with("rx", JoinOptions::default()).await.unwrap();
        let (tx, mut opened) = mpsc::unbounded_channel();
        let t2 = tx.clone();
        receiver
            .register_text_stream_handler("t", move |r| drop(tx.send(Reader::Text(r))))
            .unwrap();
        receiver
            .register_byte_stream_handler("t", move |r| drop(t2.send(Reader::Bytes(r))))
            .unwrap();
        let senders: Vec<RawPeer> = (0..3)
            .map(|i| RawPeer::join(&room, &format!("s{i}"), 2, true))
            .collect();

        // Each stream's packets stay in order; streams interleave pseudo-randomly.
        let mut queues: Vec<(usize, std::collections::VecDeque<data_packet::Value>)> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.sender, packets(&format!("stream-{i}"), s).into()))
            .collect();
        let mut x = interleave_seed | 1;
        // Noise: packets for streams nobody opened.
        senders[0].send("rx", chunk("ghost", 3, b"boo")).await;
        senders[1].send("rx", trailer("ghost", "", &[])).await;
        while queues.iter().any(|(_, q)| !q.is_empty()) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let live: Vec<usize> = (0..queues.len())
                .filter(|i| !queues[*i].1.is_empty())
                .collect();
            let pick = live[(x as usize) % live.len()];
            let (sender, q) = &mut queues[pick];
            let packet = q.pop_front().unwrap();
            senders[*sender].send("rx", packet).await;
        }
        // Senders of truncated streams leave; their unfinished streams must error.
        for (i, s) in senders.iter().enumerate() {
            if specs
                .iter()
                .any(|spec| spec.sender == i && matches!(spec.fault, Fault::Truncate))
            {
                s.transport.leave();
            }
        }
        let mut results: HashMap<String, Result<Vec<u8>, String>> = HashMap::new();
        while results.len() < specs.len() {
            let Ok(Some(reader)) =
                tokio::time::timeout(Duration::from_millis(500), opened.recv()).await
            else {
                break;
            };
            let (id, result) = match reader {
                Reader::Text(r) => {
                    let id = r.info().id.clone();
                    (
                        id,
                        tokio::time::timeout(Duration::from_secs(5), r.read_all())
                            .await
                            .map(|r| r.map(String::into_bytes).map_err(|e| e.to_string())),
                    )
                }
                Reader::Bytes(r) => {
                    let id = r.info().id.clone();
                    (
                        id,
                        tokio::time::timeout(Duration::from_secs(5), r.read_all())
                            .await
                            .map(|r| r.map_err(|e| e.to_string())),
                    )
                }
            };
            let result = result.map_err(|_| TestCaseError::fail(format!("stream {id} hung")))?;
            results.insert(id, result);
        }
        for (i, spec) in specs.iter().enumerate() {
            let id = format!("stream-{i}");
            match results.get(&id) {
                Some(Ok(bytes)) => prop_assert!(
                    bytes == &spec.content,
                    "{id} delivered other bytes than sent ({:?})",
                    spec.fault
                ),
                Some(Err(_)) => prop_assert!(
                    !matches!(spec.fault, Fault::None),
                    "{id} failed without a fault"
                ),
                // A header can only vanish if it was dropped as invalid (never for these specs).
                None => prop_assert!(false, "{id} was never opened"),
            }
        }
        prop_assert_eq!(receiver.diagnostics().open_incoming_streams, 0);
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_packet_sequence_delivers_exact_bytes_or_errors(
        specs in proptest::collection::vec(stream_spec(), 1..6),
        seed in any::<u64>(),
    ) {
        check_streams(specs, seed)?;
    }
}

fn payload() -> impl Strategy<Value = String> {
    let chars = |max| {
        proptest::collection::vec(any::<char>(), 0..max)
            .prop_map(|c| c.into_iter().collect::<String>())
    };
    prop_oneof![
        3 => chars(64),
        2 => chars(4_000),
        1 => chars(60_000),
        1 => chars(250_000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_payload_round_trips_through_every_path(payload in payload()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let room = MemoryRoom::new();
            let caller = room.join("caller").await.unwrap();
            let paths = [("v1-packet", 0, false), ("v2-chunked", 1, false), ("v2-inline-or-raw", 2, false), ("v2-compressed", 2, true)];
            let mut handlers = Vec::new();
            for (name, protocol, compression) in paths {
                let p = room.join_with(name, JoinOptions { client_protocol: protocol, compression, ..Default::default() }).await.unwrap();
                p.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) }).unwrap();
                handlers.push(p);
            }
            for (name, protocol, _) in paths {
                let reply = caller
                    .perform_rpc(PerformRpcData { destination_identity: name.into(), method: "echo".into(), payload: payload.clone(), ..Default::default() })
                    .await;
                if protocol == 0 && payload.len() > proto::MAX_V1_PAYLOAD_BYTES {
                    prop_assert_eq!(reply.unwrap_err().code, 1402);
                } else {
                    let reply = reply.map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
                    prop_assert!(reply == payload, "{} changed the payload", name);
                }
            }
            Ok(())
        })?;
    }
}
