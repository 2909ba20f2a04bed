//! Bad input from a remote participant: each case gets the reference SDK's reaction (drop,
//! stream error or an RPC error code), never a panic, a hang or unbounded memory, and the
//! participant keeps serving afterwards. `tests/README.md` lists every case with its test.

mod support;

use std::time::Duration;

use livekit_typed_rpc::bridge::{self, encode_frame, FRAME_DATA};
use livekit_typed_rpc::proto::{self, data_packet, rpc_response, Message, RpcRequest, RpcResponse};
use livekit_typed_rpc::streams::{StreamError, StreamLimits, TextStreamReader};
use livekit_typed_rpc::{
    livekit_rpc, JoinOptions, MemoryRoom, Participant, PerformRpcData, RpcInvocationData, RpcLimits,
};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

/// A participant serving `echo` and receiving text streams on "t", with a raw peer "evil".
struct Target {
    room: MemoryRoom,
    p: Participant,
    texts: mpsc::UnboundedReceiver<TextStreamReader>,
    evil: RawPeer,
}

async fn target(options: JoinOptions) -> Target {
    let room = MemoryRoom::new();
    let p = room.join_with("target", options).await.unwrap();
    p.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    let (tx, texts) = mpsc::unbounded_channel();
    p.register_text_stream_handler("t", move |r| {
        let _ = tx.send(r);
    })
    .unwrap();
    let evil = RawPeer::join(&room, "evil", 2, true);
    Target {
        room,
        p,
        texts,
        evil,
    }
}

impl Target {
    /// The participant still answers a well-formed call from a fresh peer.
    async fn still_serves(&self) {
        let good = self.room.join("good-citizen").await.unwrap();
        let r = good
            .perform_rpc(PerformRpcData {
                destination_identity: "target".into(),
                method: "echo".into(),
                payload: "still here".into(),
                ..Default::default()
            })
            .await;
        assert_eq!(r.unwrap(), "still here");
        good.leave().await;
    }

    async fn text(&mut self) -> TextStreamReader {
        tokio::time::timeout(WAIT, self.texts.recv())
            .await
            .expect("stream opened")
            .unwrap()
    }

    async fn no_text(&mut self) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(self.texts.try_recv().is_err());
    }
}

async fn read(r: TextStreamReader) -> Result<String, StreamError> {
    tokio::time::timeout(WAIT, r.read_all())
        .await
        .expect("stream ended")
}

#[tokio::test]
async fn packet_without_value_is_dropped() {
    let t = target(JoinOptions::default()).await;
    t.evil
        .transport
        .publish(proto::DataPacket {
            destination_identities: vec!["target".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    t.still_serves().await;
}

#[tokio::test]
async fn unknown_data_packet_oneof_case_is_dropped() {
    // A DataPacket carrying a field number this protocol version does not know (99),
    // sent over the bridge as raw bytes: decoded as a packet without a known value.
    let room = MemoryRoom::new();
    let p = room.join("target").await.unwrap();
    p.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut s = bridge_join(server.local_addr(), "evil", 2, vec![]).await;
    // destination_identities (5) = "target", then field 99 (length-delimited).
    let mut body = Vec::new();
    body.extend_from_slice(&[0x2a, 0x06]);
    body.extend_from_slice(b"target");
    body.extend_from_slice(&[0x9a, 0x06, 0x03, 1, 2, 3]); // field 99, length-delimited
    s.write_all(&encode_frame(FRAME_DATA, &body)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        room.identities().contains(&"evil".to_string()),
        "a valid frame keeps the connection"
    );
    let good = room.join("good").await.unwrap();
    assert_eq!(
        good.perform_rpc(PerformRpcData {
            destination_identity: "target".into(),
            method: "echo".into(),
            payload: "ok".into(),
            ..Default::default()
        })
        .await
        .unwrap(),
        "ok"
    );
}

#[tokio::test]
async fn truncated_protobuf_in_a_bridge_frame_closes_that_connection() {
    let room = MemoryRoom::new();
    let _p = room.join("target").await.unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut s = bridge_join(server.local_addr(), "evil", 2, vec![]).await;
    let full = proto::reliable_packet(
        vec!["target".into()],
        data_packet::Value::RpcAck(proto::RpcAck {
            request_id: "abcdef".into(),
        }),
    )
    .encode_to_vec();
    s.write_all(&encode_frame(FRAME_DATA, &full[..full.len() - 3]))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while room.identities().contains(&"evil".to_string()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the offending connection is closed");
    assert!(room.identities().contains(&"target".to_string()));
}

#[tokio::test]
async fn chunks_and_trailers_for_unknown_streams_are_ignored() {
    let t = target(JoinOptions::default()).await;
    t.evil.send("target", chunk("nope", 0, b"x")).await;
    t.evil.send("target", chunk("nope", 5, b"y")).await;
    t.evil.send("target", trailer("nope", "", &[])).await;
    t.evil
        .send("target", trailer("nope", "reason", &[("a", "b")]))
        .await;
    t.still_serves().await;
    assert_eq!(t.p.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn header_without_content_header_is_dropped() {
    let mut t = target(JoinOptions::default()).await;
    let mut h = text_header("s1", "t", None);
    h.content_header = None;
    t.evil.send("target", header_packet(h)).await;
    t.no_text().await;
    t.still_serves().await;
}

#[tokio::test]
async fn uncompressed_chunk_repeat_is_dropped_and_gap_errors() {
    let mut t = target(JoinOptions::default()).await;
    t.evil
        .send("target", header_packet(text_header("s1", "t", Some(6))))
        .await;
    t.evil.send("target", chunk("s1", 0, b"abc")).await;
    t.evil.send("target", chunk("s1", 0, b"abc")).await;
    t.evil.send("target", chunk("s1", 1, b"def")).await;
    t.evil.send("target", trailer("s1", "", &[])).await;
    assert_eq!(read(t.text().await).await.unwrap(), "abcdef");
    t.evil
        .send("target", header_packet(text_header("s2", "t", None)))
        .await;
    t.evil.send("target", chunk("s2", 0, b"abc")).await;
    t.evil.send("target", chunk("s2", 3, b"xyz")).await;
    assert!(matches!(
        read(t.text().await).await,
        Err(StreamError::Incomplete(_))
    ));
    assert_eq!(t.p.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn compressed_stream_that_is_not_deflate_fails_to_decode() {
    let mut t = target(JoinOptions::default()).await;
    let mut h = text_header("s1", "t", Some(100));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    t.evil.send("target", header_packet(h)).await;
    t.evil.send("target", chunk("s1", 0, &[0xff; 64])).await;
    assert!(matches!(
        read(t.text().await).await,
        Err(StreamError::DecodeFailed(_))
    ));
    let mut h = text_header("s2", "t", Some(100));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    h.inline_content = Some(vec![0xff; 64]);
    t.evil.send("target", header_packet(h)).await;
    assert!(matches!(
        read(t.text().await).await,
        Err(StreamError::DecodeFailed(_))
    ));
    t.still_serves().await;
}

#[tokio::test]
async fn invalid_utf8_split_across_compressed_chunks_fails_to_decode() {
    let mut t = target(JoinOptions::default()).await;
    // "ab" then the first two bytes of "€": valid DEFLATE, invalid text at the end.
    let bytes = [b'a', b'b', 0xe2, 0x82];
    let mut h = text_header("s1", "t", Some(4));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    t.evil.send("target", header_packet(h)).await;
    let c = deflate_raw(&bytes);
    t.evil.send("target", chunk("s1", 0, &c[..1])).await;
    t.evil.send("target", chunk("s1", 1, &c[1..])).await;
    t.evil.send("target", trailer("s1", "", &[])).await;
    let err = read(t.text().await).await.unwrap_err();
    assert!(
        matches!(&err, StreamError::DecodeFailed(m) if m.contains("UTF-8")),
        "{err:?}"
    );
}

#[tokio::test]
async fn header_with_thousands_of_attributes_is_dropped() {
    let mut t = target(JoinOptions::default()).await;
    let mut h = text_header("s1", "t", Some(1));
    h.attributes = (0..5_000)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    h.inline_content = Some(b"x".to_vec());
    t.evil.send("target", header_packet(h)).await;
    t.no_text().await;
    // Trailers cannot smuggle them in either.
    t.evil
        .send("target", header_packet(text_header("s2", "t", None)))
        .await;
    let many: Vec<(String, String)> = (0..5_000)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut reader = t.text().await;
    t.evil.send("target", trailer("s2", "", &refs)).await;
    while reader.next_chunk().await.is_some() {}
    assert!(reader.attributes().len() <= StreamLimits::default().max_header_attributes);
}

#[tokio::test]
async fn flood_of_half_open_streams_from_one_sender_is_capped() {
    let options = JoinOptions {
        stream_limits: StreamLimits {
            max_open_streams_per_sender: 16,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut t = target(options).await;
    for i in 0..40 {
        t.evil
            .send(
                "target",
                header_packet(text_header(&format!("s{i}"), "t", None)),
            )
            .await;
    }
    let mut refused = 0;
    let mut readers = Vec::new();
    for _ in 0..40 {
        let mut r = t.text().await;
        let refused_now = tokio::time::timeout(Duration::from_millis(20), r.next_chunk()).await;
        if let Ok(Some(Err(StreamError::LimitExceeded(m)))) = refused_now {
            assert!(m.contains("evil"));
            refused += 1;
        } else {
            readers.push(r);
        }
    }
    assert_eq!(refused, 24);
    assert_eq!(t.p.diagnostics().open_incoming_streams, 16);
    // Another sender is not affected.
    let other = RawPeer::join(&t.room, "other", 2, true);
    other.send("target", inline_text("o1", "fine")).await;
    assert_eq!(read(t.text().await).await.unwrap(), "fine");
    // The flood ends when the sender leaves.
    t.evil.transport.leave();
    for r in readers {
        assert!(matches!(read(r).await, Err(StreamError::AbnormalEnd(_))));
    }
    assert_eq!(t.p.diagnostics().open_incoming_streams, 0);
}

fn inline_text(id: &str, text: &str) -> data_packet::Value {
    let mut h = text_header(id, "t", Some(text.len() as u64));
    h.inline_content = Some(text.as_bytes().to_vec());
    header_packet(h)
}

#[tokio::test]
async fn a_stream_that_never_ends_is_cut_at_the_limit() {
    let options = JoinOptions {
        stream_limits: StreamLimits {
            max_stream_bytes: 1 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut t = target(options).await;
    t.evil
        .send("target", header_packet(text_header("s1", "t", None)))
        .await;
    let reader = t.text().await;
    let piece = vec![b'z'; 15_000];
    for i in 0..100 {
        t.evil.send("target", chunk("s1", i, &piece)).await;
    }
    assert_eq!(
        read(reader).await,
        Err(StreamError::PayloadTooLarge { limit: 1 << 20 })
    );
    assert_eq!(t.p.diagnostics().open_incoming_streams, 0);
}

fn small_rpc_cap() -> JoinOptions {
    JoinOptions {
        rpc_limits: RpcLimits {
            max_payload_bytes: 1 << 20,
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn expect_error_code(peer: &mut RawPeer, code: u32) -> proto::RpcError {
    loop {
        if let data_packet::Value::RpcResponse(RpcResponse {
            value: Some(rpc_response::Value::Error(e)),
            ..
        }) = peer.next_value().await
        {
            assert_eq!(e.code, code, "{e:?}");
            return e;
        }
    }
}

#[tokio::test]
async fn rpc_request_stream_that_never_ends_is_refused_with_1402() {
    let mut t = target(small_rpc_cap()).await;
    t.evil
        .send(
            "target",
            header_packet(rpc_request_header("s1", "echo", None)),
        )
        .await;
    let piece = vec![b'z'; 15_000];
    for i in 0..200 {
        t.evil.send("target", chunk("s1", i, &piece)).await;
    }
    let e = expect_error_code(&mut t.evil, 1402).await;
    assert!(e.data.contains("limit of 1048576 bytes"), "{}", e.data);
    assert_eq!(t.p.diagnostics().open_incoming_streams, 0);
    t.still_serves().await;
}

#[tokio::test]
async fn rpc_request_announcing_too_much_is_refused_without_buffering() {
    let mut t = target(small_rpc_cap()).await;
    t.evil
        .send(
            "target",
            header_packet(rpc_request_header("s1", "echo", Some(2_000_000_000))),
        )
        .await;
    expect_error_code(&mut t.evil, 1402).await;
    assert_eq!(t.p.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn inline_decompression_bomb_in_an_rpc_request_is_refused() {
    let mut t = target(small_rpc_cap()).await;
    let mut h = rpc_request_header("s1", "echo", None);
    h.inline_content = Some(deflate_raw(&vec![b'a'; 100 << 20]));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    t.evil.send("target", header_packet(h)).await;
    expect_error_code(&mut t.evil, 1402).await;
}

#[tokio::test]
async fn rpc_response_over_the_limit_fails_the_call_with_1504() {
    let room = MemoryRoom::new();
    let caller = room.join_with("caller", small_rpc_cap()).await.unwrap();
    let big = room.join("big").await.unwrap();
    big.register_rpc_method("huge", |_d| async { Ok("y".repeat(3 << 20)) })
        .unwrap();
    let e = caller
        .perform_rpc(PerformRpcData {
            destination_identity: "big".into(),
            method: "huge".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, 1504);
    assert!(e.data.unwrap().contains("limit of 1048576 bytes"));
    assert_eq!(caller.diagnostics().pending_calls, 0);
    assert_eq!(caller.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn timeout_attributes_that_are_huge_or_negative_are_clamped() {
    let t = target(JoinOptions::default()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    t.p.register_rpc_method("timeout", move |d: RpcInvocationData| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(d.response_timeout);
            Ok(String::new())
        }
    })
    .unwrap();
    for (value, expected) in [
        ("99999999999999999999999", u32::MAX as u64),
        ("-5", 0),
        ("  12ms", 12),
    ] {
        let mut h = rpc_request_header("s", "timeout", Some(0));
        h.stream_id = uuid::Uuid::new_v4().to_string();
        h.attributes
            .insert(proto::ATTR_RESPONSE_TIMEOUT_MS.into(), value.into());
        h.inline_content = Some(Vec::new());
        t.evil.send("target", header_packet(h)).await;
        assert_eq!(
            tokio::time::timeout(WAIT, rx.recv())
                .await
                .unwrap()
                .unwrap(),
            Duration::from_millis(expected),
            "{value}"
        );
    }
}

#[tokio::test]
async fn responses_and_acks_for_unknown_ids_are_ignored() {
    let t = target(JoinOptions::default()).await;
    t.evil
        .send(
            "target",
            data_packet::Value::RpcAck(proto::RpcAck {
                request_id: "ghost".into(),
            }),
        )
        .await;
    t.evil
        .send(
            "target",
            data_packet::Value::RpcResponse(RpcResponse {
                request_id: "ghost".into(),
                value: Some(rpc_response::Value::Payload("x".into())),
            }),
        )
        .await;
    t.evil
        .send(
            "target",
            data_packet::Value::RpcResponse(RpcResponse {
                request_id: "ghost".into(),
                value: None,
            }),
        )
        .await;
    let mut h = text_header("r1", proto::RPC_RESPONSE_TOPIC, Some(1));
    h.attributes
        .insert(proto::ATTR_REQUEST_ID.into(), "ghost".into());
    h.inline_content = Some(b"x".to_vec());
    t.evil.send("target", header_packet(h)).await;
    t.still_serves().await;
    assert_eq!(t.p.diagnostics().pending_calls, 0);
}

#[tokio::test]
async fn request_with_only_compressed_payload_is_handled_as_empty() {
    let mut t = target(JoinOptions::default()).await;
    t.evil
        .send(
            "target",
            data_packet::Value::RpcRequest(RpcRequest {
                id: "r1".into(),
                method: "echo".into(),
                compressed_payload: vec![1, 2, 3],
                response_timeout_ms: 8000,
                version: 1,
                ..Default::default()
            }),
        )
        .await;
    let _ack = t.evil.next_value().await;
    let (h, body, _) = t.evil.next_stream().await;
    assert_eq!(h.attributes[proto::ATTR_REQUEST_ID], "r1");
    assert!(body.is_empty());
}

/// A typed method, for the JSON cases.
#[livekit_rpc]
trait Typed {
    /// Takes a number and a list.
    async fn take(&self, n: u32, items: Vec<String>) -> u32;
    /// Takes any JSON.
    async fn any(&self, v: serde_json::Value) -> u32;
}

struct T;
impl Typed for T {
    async fn take(&self, n: u32, items: Vec<String>) -> u32 {
        n + items.len() as u32
    }
    async fn any(&self, v: serde_json::Value) -> u32 {
        v.is_array() as u32
    }
}

async fn typed_target() -> (
    MemoryRoom,
    Participant,
    livekit_typed_rpc::Serving,
    Participant,
) {
    let room = MemoryRoom::new();
    let server = room.join("target").await.unwrap();
    let serving = server.serve(TypedServer::new(T)).unwrap();
    let caller = room.join("caller").await.unwrap();
    (room, server, serving, caller)
}

async fn raw_call(caller: &Participant, payload: String) -> livekit_typed_rpc::RpcError {
    caller
        .perform_rpc(PerformRpcData {
            destination_identity: "target".into(),
            method: "take".into(),
            payload,
            ..Default::default()
        })
        .await
        .unwrap_err()
}

#[tokio::test]
async fn json_nested_ten_thousand_levels_is_an_error_not_a_stack_overflow() {
    let (_room, _server, _serving, caller) = typed_target().await;
    let nest = |inner: &str| format!("{}{inner}{}", "[".repeat(10_000), "]".repeat(10_000));
    // In a typed parameter: an error naming the method, decoded without deep recursion.
    let e = raw_call(&caller, format!("{{\"n\":1,\"items\":{}}}", nest(""))).await;
    assert!(e
        .data
        .unwrap()
        .starts_with("invalid arguments for \"take\""));
    // In a parameter that takes any JSON: serde_json's recursion limit stops it.
    let e = caller
        .perform_rpc(PerformRpcData {
            destination_identity: "target".into(),
            method: "any".into(),
            payload: format!("{{\"v\":{}}}", nest("1")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let data = e.data.unwrap();
    assert!(data.contains("recursion limit exceeded"), "{data}");
    // Under a key the method does not have: skipped without recursing, the call succeeds.
    let ok = caller
        .perform_rpc(PerformRpcData {
            destination_identity: "target".into(),
            method: "take".into(),
            payload: format!("{{\"n\":1,\"items\":[],\"extra\":{}}}", nest("")),
            ..Default::default()
        })
        .await;
    assert_eq!(ok.unwrap(), "1");
}

#[tokio::test]
async fn json_of_100_megabytes_that_does_not_match_is_an_error() {
    let (_room, server, _serving, caller) = typed_target().await;
    let huge = format!("{{\"n\":\"{}\",\"items\":[]}}", "9".repeat(100_000_000));
    let e = raw_call(&caller, huge).await;
    assert!(e.data.unwrap().contains("parameter `n`"));
    assert_eq!(server.diagnostics().running_handlers, 0);
}

#[tokio::test]
async fn json_that_does_not_match_the_arguments_names_the_parameter() {
    let (_room, _server, _serving, caller) = typed_target().await;
    let e = raw_call(&caller, r#"{"n": 1, "items": "not a list"}"#.into()).await;
    assert!(e.data.unwrap().contains("parameter `items`"));
    let e = raw_call(&caller, "[1,2]".into()).await;
    assert!(e
        .data
        .unwrap()
        .starts_with("invalid arguments for \"take\""));
}

#[tokio::test]
async fn method_name_of_100_kilobytes() {
    let mut t = target(JoinOptions::default()).await;
    let name = "m".repeat(100_000);
    // As a v1 packet: acknowledged, then UNSUPPORTED_METHOD.
    t.evil
        .send(
            "target",
            data_packet::Value::RpcRequest(RpcRequest {
                id: "r1".into(),
                method: name.clone(),
                version: 1,
                response_timeout_ms: 8000,
                ..Default::default()
            }),
        )
        .await;
    expect_error_code(&mut t.evil, 1400).await;
    // In a stream header (receivers do not enforce the 15 000-byte header budget).
    let mut h = rpc_request_header("s1", &name, Some(0));
    h.inline_content = Some(Vec::new());
    t.evil.send("target", header_packet(h)).await;
    expect_error_code(&mut t.evil, 1400).await;
    // Sending one: the header cannot be sent, so the call fails with SEND_FAILED at once.
    let e =
        t.p.perform_rpc(PerformRpcData {
            destination_identity: "evil".into(),
            method: name,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, 1505);
    assert!(
        e.data.unwrap().contains("header"),
        "the hint names the header limit"
    );
    assert_eq!(t.p.diagnostics().pending_calls, 0);
}

/// Beyond its concurrency a caller's calls wait in line; only a call that finds the line
/// full is refused, as load, and another caller is not affected.
#[tokio::test]
async fn calls_beyond_a_full_queue_are_refused_as_load() {
    let options = JoinOptions {
        rpc_limits: RpcLimits {
            max_concurrent_calls_per_caller: 3,
            max_queued_calls_per_caller: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let room = MemoryRoom::new();
    let server = room.join_with("server", options).await.unwrap();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    server
        .register_rpc_method("wait", move |_d| {
            let g = g.clone();
            async move {
                g.acquire().await.unwrap().forget();
                Ok("done".to_string())
            }
        })
        .unwrap();
    let greedy = room.join("greedy").await.unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let c = greedy.clone();
        calls.spawn(async move {
            c.perform_rpc(PerformRpcData {
                destination_identity: "server".into(),
                method: "wait".into(),
                ..Default::default()
            })
            .await
        });
    }
    // 3 run, 1 waits, 1 is refused at once.
    let e = calls.join_next().await.unwrap().unwrap().unwrap_err();
    assert!(e.is_overloaded(), "{e}");
    assert_eq!(e.code, 1500);
    let data = e.data.unwrap();
    assert!(data.contains("under load, not because of a bug"), "{data}");
    assert!(data.contains("max_queued_calls_per_caller"), "{data}");
    let d = server.diagnostics();
    assert_eq!(
        (d.running_handlers, d.queued_calls, d.refused_overloaded),
        (3, 1, 1)
    );
    // Another caller is not affected.
    let polite = room.join("polite").await.unwrap();
    let p = polite.clone();
    let other = tokio::spawn(async move {
        p.perform_rpc(PerformRpcData {
            destination_identity: "server".into(),
            method: "wait".into(),
            ..Default::default()
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    gate.add_permits(5);
    while let Some(r) = calls.join_next().await {
        assert_eq!(r.unwrap().unwrap(), "done");
    }
    assert_eq!(other.await.unwrap().unwrap(), "done");
    assert_eq!(server.diagnostics().queued_calls, 0);
}

#[tokio::test]
async fn error_response_with_oversized_message_and_data_is_truncated() {
    let (_room, caller, mut dest) = {
        let room = MemoryRoom::new();
        let dest = RawPeer::join(&room, "dest", 0, false);
        let caller = room.join("caller").await.unwrap();
        (room, caller, dest)
    };
    let c = caller.clone();
    let call = tokio::spawn(async move {
        c.perform_rpc(PerformRpcData {
            destination_identity: "dest".into(),
            method: "m".into(),
            ..Default::default()
        })
        .await
    });
    let id = match dest.next_value().await {
        data_packet::Value::RpcRequest(r) => r.id,
        other => panic!("{other:?}"),
    };
    dest.send(
        "caller",
        data_packet::Value::RpcResponse(RpcResponse {
            request_id: id,
            value: Some(rpc_response::Value::Error(proto::RpcError {
                code: 7,
                message: "é".repeat(100_000),
                data: "x".repeat(1_000_000),
            })),
        }),
    )
    .await;
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(
        (e.message.len(), e.data.map(|d| d.len())),
        (256, Some(15_360))
    );
}
