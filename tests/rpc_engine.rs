//! The RPC engine against the reference SDK's behaviour, case by case: every "minimum
//! required" case of the RPC v2 spec (numbered), the extra cases derived from the
//! implementation, and every JavaScript test of `RpcClientManager.test.ts` and
//! `RpcServerManager.test.ts`, each asserting on the packets and streams exchanged.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use livekit_typed_rpc::proto::{
    self, data_packet, data_stream, rpc_response, RpcAck, RpcRequest, RpcResponse,
};
use livekit_typed_rpc::room::{BoxFuture, Connection, Transport, TransportError};
use livekit_typed_rpc::{
    CallDiagnosis, JoinOptions, MemoryRoom, Participant, PerformRpcData, RoomConfig, RpcError,
    RpcErrorCode, RpcInvocationData,
};
use support::*;

fn ack(id: &str) -> data_packet::Value {
    data_packet::Value::RpcAck(RpcAck {
        request_id: id.into(),
    })
}

fn response_ok(id: &str, payload: &str) -> data_packet::Value {
    data_packet::Value::RpcResponse(RpcResponse {
        request_id: id.into(),
        value: Some(rpc_response::Value::Payload(payload.into())),
    })
}

fn response_err(id: &str, code: u32, message: &str) -> data_packet::Value {
    data_packet::Value::RpcResponse(RpcResponse {
        request_id: id.into(),
        value: Some(rpc_response::Value::Error(proto::RpcError {
            code,
            message: message.into(),
            data: String::new(),
        })),
    })
}

/// An `lk.rpc_response` stream as the reference sends it (classic: header, chunk, trailer).
async fn send_response_stream(peer: &RawPeer, to: &str, id: &str, payload: &str) {
    let mut h = text_header(
        &uuid::Uuid::new_v4().to_string(),
        proto::RPC_RESPONSE_TOPIC,
        Some(payload.len() as u64),
    );
    h.attributes = HashMap::from([(proto::ATTR_REQUEST_ID.into(), id.into())]);
    let sid = h.stream_id.clone();
    peer.send(to, header_packet(h)).await;
    for (i, c) in livekit_typed_rpc::streams::split_utf8(payload.as_bytes(), 15_000)
        .iter()
        .enumerate()
    {
        peer.send(to, chunk(&sid, i as u64, c)).await;
    }
    peer.send(to, trailer(&sid, "", &[])).await;
}

/// A request stream as the reference caller sends it.
async fn send_request_stream(peer: &RawPeer, to: &str, attrs: &[(&str, &str)], payload: &str) {
    let mut h = text_header(
        &uuid::Uuid::new_v4().to_string(),
        proto::RPC_REQUEST_TOPIC,
        Some(payload.len() as u64),
    );
    h.attributes = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sid = h.stream_id.clone();
    peer.send(to, header_packet(h)).await;
    for (i, c) in livekit_typed_rpc::streams::split_utf8(payload.as_bytes(), 15_000)
        .iter()
        .enumerate()
    {
        peer.send(to, chunk(&sid, i as u64, c)).await;
    }
    peer.send(to, trailer(&sid, "", &[])).await;
}

fn v2_attrs<'a>(id: &'a str, method: &'a str, timeout: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (proto::ATTR_REQUEST_ID, id),
        (proto::ATTR_REQUEST_METHOD, method),
        (proto::ATTR_RESPONSE_TIMEOUT_MS, timeout),
        (proto::ATTR_REQUEST_VERSION, "2"),
    ]
}

fn v1_request(
    id: &str,
    method: &str,
    payload: &str,
    timeout_ms: u32,
    version: u32,
) -> data_packet::Value {
    data_packet::Value::RpcRequest(RpcRequest {
        id: id.into(),
        method: method.into(),
        payload: payload.into(),
        response_timeout_ms: timeout_ms,
        version,
        ..Default::default()
    })
}

/// A caller participant and a raw destination peer advertising `remote_protocol`.
async fn caller_setup(remote_protocol: i32) -> (MemoryRoom, Participant, RawPeer) {
    let room = MemoryRoom::new();
    let dest = RawPeer::join(
        &room,
        "destination-identity",
        remote_protocol,
        remote_protocol >= 2,
    );
    let caller = room.join("caller-identity").await.unwrap();
    (room, caller, dest)
}

/// A handler participant and a raw caller peer advertising `caller_protocol`.
async fn handler_setup(caller_protocol: i32) -> (MemoryRoom, Participant, RawPeer) {
    let room = MemoryRoom::new();
    let handler = room.join("handler-identity").await.unwrap();
    let caller = RawPeer::join(
        &room,
        "caller-identity",
        caller_protocol,
        caller_protocol >= 2,
    );
    (room, handler, caller)
}

fn spawn_call(
    p: &Participant,
    data: PerformRpcData,
) -> tokio::task::JoinHandle<Result<String, RpcError>> {
    let p = p.clone();
    tokio::spawn(async move { p.perform_rpc(data).await })
}

fn expect_request(v: data_packet::Value) -> RpcRequest {
    match v {
        data_packet::Value::RpcRequest(r) => r,
        other => panic!("expected RpcRequest, got {other:?}"),
    }
}

fn expect_ack(v: data_packet::Value) -> String {
    match v {
        data_packet::Value::RpcAck(a) => a.request_id,
        other => panic!("expected RpcAck, got {other:?}"),
    }
}

fn expect_response(v: data_packet::Value) -> RpcResponse {
    match v {
        data_packet::Value::RpcResponse(r) => r,
        other => panic!("expected RpcResponse, got {other:?}"),
    }
}

fn expect_error(v: data_packet::Value) -> (String, proto::RpcError) {
    let r = expect_response(v);
    match r.value {
        Some(rpc_response::Value::Error(e)) => (r.request_id, e),
        other => panic!("expected an error response, got {other:?}"),
    }
}

fn request_id_of(h: &data_stream::Header) -> String {
    h.attributes[proto::ATTR_REQUEST_ID].clone()
}

async fn register_echo(p: &Participant, method: &str) {
    p.register_rpc_method(method, |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
}

fn diagnosis(e: &RpcError) -> CallDiagnosis {
    CallDiagnosis::from_error(e).expect("locally raised errors carry a diagnosis")
}

// ============================================================== caller: v2 -> v1 (remote 0)

/// Spec 16; JS "should send v1 RPC request to a "legacy" client (happy path)".
#[tokio::test]
async fn client_v1_happy_path_sends_one_rpc_request_packet() {
    let (_room, caller, mut dest) = caller_setup(0).await;
    let pending = spawn_call(
        &caller,
        call("destination-identity", "test-method", "request payload"),
    );
    let req = expect_request(dest.next_value().await);
    assert_eq!(
        (req.method.as_str(), req.payload.as_str()),
        ("test-method", "request payload")
    );
    assert_eq!((req.version, req.response_timeout_ms), (1, 15_000));
    assert_eq!(uuid::Uuid::parse_str(&req.id).unwrap().get_version_num(), 4);
    assert_eq!(req.id, req.id.to_lowercase());
    dest.send("caller-identity", ack(&req.id)).await;
    dest.send("caller-identity", response_ok(&req.id, "response payload"))
        .await;
    assert_eq!(pending.await.unwrap().unwrap(), "response payload");
    dest.expect_no_packet(Duration::from_millis(30)).await;
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

/// Spec 20; JS "should fail to send long (> 15kb) v1 RPC request".
#[tokio::test]
async fn client_v1_request_over_15kib_fails_before_sending() {
    let (room, caller, mut dest) = caller_setup(0).await;
    let rec = room.record_packets();
    let err = caller
        .perform_rpc(call("destination-identity", "m", &"a".repeat(20_000)))
        .await
        .unwrap_err();
    assert_eq!(err.code, RpcErrorCode::RequestPayloadTooLarge as u32);
    assert_eq!(err.message, "Request payload too large");
    let d = diagnosis(&err);
    assert!(!d.published && d.destination_protocol == 0);
    assert!(rec.take().is_empty(), "nothing may be sent");
    dest.expect_no_packet(Duration::from_millis(20)).await;
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

/// Spec 21; JS "should handle v1 RPC request timeout".
#[tokio::test(start_paused = true)]
async fn client_v1_response_timeout() {
    let (_room, caller, mut dest) = caller_setup(0).await;
    let mut data = call("destination-identity", "m", "p");
    data.response_timeout = Duration::from_millis(50);
    let started = tokio::time::Instant::now();
    let pending = spawn_call(&caller, data);
    let req = expect_request(dest.next_value().await);
    // The local timer uses the caller's 50 ms; the wire says max(50, 8000).
    assert_eq!(req.response_timeout_ms, 8_000);
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err.code, 1502);
    assert_eq!(err.message, "Response timeout");
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "fires before the ack timeout"
    );
    let d = diagnosis(&err);
    assert!(d.published && d.acked_after_ms.is_none());
    assert!(d.hint.contains("no acknowledgement"), "{}", d.hint);
}

/// Spec 22; JS "should handle v1 RPC error response".
#[tokio::test]
async fn client_v1_error_response() {
    let (_room, caller, mut dest) = caller_setup(0).await;
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    let req = expect_request(dest.next_value().await);
    dest.send("caller-identity", ack(&req.id)).await;
    dest.send(
        "caller-identity",
        response_err(&req.id, 101, "Test error message"),
    )
    .await;
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str(), err.data),
        (101, "Test error message", None)
    );
}

/// Spec 23; JS "should handle participant disconnection during v1 RPC request".
#[tokio::test]
async fn client_v1_recipient_disconnected() {
    let (_room, caller, mut dest) = caller_setup(0).await;
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    let req = expect_request(dest.next_value().await);
    dest.send("caller-identity", ack(&req.id)).await;
    dest.transport.leave();
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (1503, "Recipient disconnected")
    );
    let d = diagnosis(&err);
    assert!(d.published && d.acked_after_ms.is_some());
    assert!(d.hint.contains("left the room"));
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

// ============================================================== caller: v2 -> v2 (remote >= 1)

/// Spec 1; JS "should send short v2 RPC request via data stream (happy path)".
#[tokio::test]
async fn client_v2_short_request_goes_as_a_stream() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let pending = spawn_call(
        &caller,
        call("destination-identity", "test-method", "request-payload"),
    );
    let (h, body, packets) = dest.next_stream().await;
    assert_eq!(h.topic, proto::RPC_REQUEST_TOPIC);
    assert_eq!(h.mime_type, "text/plain");
    assert!(matches!(
        h.content_header,
        Some(data_stream::header::ContentHeader::TextHeader(_))
    ));
    assert_eq!(h.attributes.len(), 4);
    assert_eq!(h.attributes[proto::ATTR_REQUEST_METHOD], "test-method");
    assert_eq!(h.attributes[proto::ATTR_REQUEST_VERSION], "2");
    assert_eq!(h.attributes[proto::ATTR_RESPONSE_TIMEOUT_MS], "15000");
    assert_eq!(body, b"request-payload");
    assert_eq!(packets, 3, "a protocol-1 peer gets a classic stream");
    let id = request_id_of(&h);
    dest.send("caller-identity", ack(&id)).await;
    send_response_stream(&dest, "caller-identity", &id, "response-payload").await;
    assert_eq!(pending.await.unwrap().unwrap(), "response-payload");
    dest.expect_no_packet(Duration::from_millis(30)).await;
}

/// The destination of every request packet and stream is exactly the destination.
#[tokio::test]
async fn client_v2_request_stream_is_addressed_to_the_destination_only() {
    let (room, caller, mut dest) = caller_setup(2).await;
    let _other = RawPeer::join(&room, "bystander", 2, true);
    let rec = room.record_packets();
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    let (h, body, packets) = dest.next_stream().await;
    assert_eq!(
        (packets, body.as_slice()),
        (1, b"p".as_slice()),
        "protocol 2 peers get an inline stream"
    );
    let id = request_id_of(&h);
    dest.send("caller-identity", ack(&id)).await;
    send_response_stream(&dest, "caller-identity", &id, "ok").await;
    pending.await.unwrap().unwrap();
    for p in rec.take().iter().filter(|p| p.from == "caller-identity") {
        assert_eq!(
            p.packet.destination_identities,
            vec!["destination-identity".to_string()]
        );
        assert_eq!(p.to, vec!["destination-identity".to_string()]);
    }
}

/// Spec 2; JS "should send long (> 15kb) v2 RPC request via data stream".
#[tokio::test]
async fn client_v2_long_request_has_no_size_limit() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let payload = "a".repeat(20_000);
    let pending = spawn_call(&caller, call("destination-identity", "m", &payload));
    let (h, body, packets) = dest.next_stream().await;
    assert_eq!(body, payload.as_bytes());
    assert_eq!(packets, 4);
    let id = request_id_of(&h);
    dest.send("caller-identity", ack(&id)).await;
    send_response_stream(&dest, "caller-identity", &id, "done").await;
    assert_eq!(pending.await.unwrap().unwrap(), "done");
}

/// Spec 8; JS "should handle a v2 RPC request timeout".
#[tokio::test(start_paused = true)]
async fn client_v2_response_timeout() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let mut data = call("destination-identity", "m", "p");
    data.response_timeout = Duration::from_millis(50);
    let pending = spawn_call(&caller, data);
    let (h, _, _) = dest.next_stream().await;
    assert_eq!(h.attributes[proto::ATTR_RESPONSE_TIMEOUT_MS], "8000");
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err.code, 1502);
    assert_eq!(
        diagnosis(&err).transport,
        livekit_typed_rpc::rpc::CallTransport::V2Stream
    );
}

/// Spec 9; JS "should handle a v2 RPC error response".
#[tokio::test]
async fn client_v2_error_response_packet() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    let (h, _, _) = dest.next_stream().await;
    let id = request_id_of(&h);
    dest.send("caller-identity", ack(&id)).await;
    dest.send(
        "caller-identity",
        response_err(&id, 101, "Test error message"),
    )
    .await;
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (101, "Test error message")
    );
}

/// Spec 10; JS "should handle participant disconnection during v2 RPC request".
#[tokio::test]
async fn client_v2_recipient_disconnected_before_ack() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    dest.next_stream().await;
    dest.transport.leave();
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err.code, 1503);
    assert_eq!(diagnosis(&err).acked_after_ms, None);
}

/// JS "should send V2 RPC request and ensure that a non matching response does not
/// complete the RPC".
#[tokio::test]
async fn client_v2_non_matching_response_does_not_complete() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    let (h, _, _) = dest.next_stream().await;
    let id = request_id_of(&h);
    dest.send("caller-identity", ack(&id)).await;
    send_response_stream(&dest, "caller-identity", "bogus-id", "wrong").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!pending.is_finished());
    assert_eq!(caller.diagnostics().pending_calls, 1);
    send_response_stream(&dest, "caller-identity", &id, "right").await;
    assert_eq!(pending.await.unwrap().unwrap(), "right");
}

/// JS "should ensure that many rpc requests generate different request ids".
#[tokio::test]
async fn client_many_requests_have_distinct_ids() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
        let (h, _, _) = dest.next_stream().await;
        let id = request_id_of(&h);
        dest.send("caller-identity", ack(&id)).await;
        dest.send("caller-identity", response_ok(&id, "ok")).await;
        pending.await.unwrap().unwrap();
        ids.insert(id);
    }
    assert_eq!(ids.len(), 5);
}

/// A transport that holds back the request stream's trailer until released, so answers
/// can overtake the publish.
struct GatedTransport {
    inner: Arc<dyn Transport>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl Transport for GatedTransport {
    fn publish(&self, packet: proto::DataPacket) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            if matches!(packet.value, Some(data_packet::Value::StreamTrailer(_))) {
                let _permit = self
                    .gate
                    .acquire()
                    .await
                    .map_err(|_| TransportError::Disconnected)?;
            }
            self.inner.publish(packet).await
        })
    }

    fn leave(&self) {
        self.inner.leave()
    }
}

/// Spec 12 (and 11); JS "should not drop ack and response that arrive before publish
/// completes".
#[tokio::test]
async fn client_ack_and_response_before_publish_completes_are_not_dropped() {
    let room = MemoryRoom::new();
    let mut dest = RawPeer::join(&room, "destination-identity", 1, false);
    let conn = room
        .connect("caller-identity", JoinOptions::default())
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let caller = Participant::new(Connection {
        transport: Arc::new(GatedTransport {
            inner: conn.transport,
            gate: gate.clone(),
        }),
        ..conn
    });
    let mut data = call("destination-identity", "m", "p");
    data.response_timeout = Duration::from_millis(200);
    let pending = spawn_call(&caller, data);
    let h = match dest.next_value().await {
        data_packet::Value::StreamHeader(h) => h,
        other => panic!("{other:?}"),
    };
    let id = request_id_of(&h);
    dest.send("caller-identity", ack(&id)).await;
    send_response_stream(&dest, "caller-identity", &id, "response-payload").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!pending.is_finished(), "still publishing");
    gate.add_permits(1);
    assert_eq!(pending.await.unwrap().unwrap(), "response-payload");
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

/// Spec 11: a handler that answers at once; nothing is left pending.
#[tokio::test]
async fn client_fast_remote_leaves_no_orphaned_state() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    register_echo(&server, "echo").await;
    let client = room.join("client").await.unwrap();
    for i in 0..50 {
        let payload = format!("n{i}");
        assert_eq!(
            client
                .perform_rpc(call("server", "echo", &payload))
                .await
                .unwrap(),
            payload
        );
    }
    assert_eq!(client.diagnostics().pending_calls, 0);
}

/// Spec 13; JS "should ignore a late ack and response that arrive after ack-timeout fires".
#[tokio::test(start_paused = true)]
async fn client_late_ack_and_response_after_ack_timeout_are_ignored() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let started = tokio::time::Instant::now();
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    let (h, _, _) = dest.next_stream().await;
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (1501, "Connection timeout")
    );
    assert!(started.elapsed() >= Duration::from_millis(7000));
    assert!(started.elapsed() < Duration::from_millis(7100));
    let d = diagnosis(&err);
    assert!(d.hint.contains("did not acknowledge"), "{}", d.hint);
    let id = request_id_of(&h);
    dest.send("caller-identity", ack(&id)).await;
    send_response_stream(&dest, "caller-identity", &id, "late").await;
    dest.send("caller-identity", response_ok(&id, "late")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(caller.diagnostics().pending_calls, 0);
    assert!(caller.is_connected());
}

/// Spec 14; JS "should not resolve a v2 response stream that comes from a wrong sender
/// identity".
#[tokio::test]
async fn client_response_stream_from_wrong_sender_is_ignored() {
    let room = MemoryRoom::new();
    let mut alice = RawPeer::join(&room, "alice", 1, false);
    let mallory = RawPeer::join(&room, "mallory", 1, false);
    let caller = room.join("caller-identity").await.unwrap();
    let pending = spawn_call(&caller, call("alice", "m", "p"));
    let (h, _, _) = alice.next_stream().await;
    let id = request_id_of(&h);
    alice.send("caller-identity", ack(&id)).await;
    send_response_stream(&mallory, "caller-identity", &id, "forged").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!pending.is_finished());
    send_response_stream(&alice, "caller-identity", &id, "genuine").await;
    assert_eq!(pending.await.unwrap().unwrap(), "genuine");
}

/// Spec 15: concurrent calls to one destination never get each other's replies.
#[tokio::test]
async fn client_concurrent_calls_get_their_own_responses() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let calls: Vec<_> = (0..5)
        .map(|i| {
            (
                i,
                spawn_call(&caller, call("destination-identity", "m", &format!("q{i}"))),
            )
        })
        .collect();
    let mut requests = Vec::new();
    for _ in 0..5 {
        let (h, body, _) = dest.next_stream().await;
        requests.push((request_id_of(&h), String::from_utf8(body).unwrap()));
    }
    let ids: std::collections::HashSet<_> = requests.iter().map(|r| r.0.clone()).collect();
    assert_eq!(ids.len(), 5);
    for (id, body) in requests.iter().rev() {
        dest.send("caller-identity", ack(id)).await;
        send_response_stream(&dest, "caller-identity", id, &format!("answer to {body}")).await;
    }
    for (i, pending) in calls {
        assert_eq!(pending.await.unwrap().unwrap(), format!("answer to q{i}"));
    }
}

/// Extra: a response stream without `lk.rpc_request_id` cannot be correlated and is
/// dropped; the call times out.
#[tokio::test(start_paused = true)]
async fn client_response_stream_without_request_id_is_ignored() {
    let (_room, caller, mut dest) = caller_setup(1).await;
    let mut data = call("destination-identity", "m", "p");
    data.response_timeout = Duration::from_millis(500);
    let pending = spawn_call(&caller, data);
    let (h, _, _) = dest.next_stream().await;
    dest.send("caller-identity", ack(&request_id_of(&h))).await;
    let mut rh = text_header("r1", proto::RPC_RESPONSE_TOPIC, None);
    rh.inline_content = Some(b"orphan".to_vec());
    dest.send("caller-identity", header_packet(rh)).await;
    assert_eq!(pending.await.unwrap().unwrap_err().code, 1502);
}

/// Extra: `RpcResponse.compressed_payload` is not part of RPC v2 and is ignored.
#[tokio::test(start_paused = true)]
async fn client_response_with_compressed_payload_is_ignored() {
    let (_room, caller, mut dest) = caller_setup(0).await;
    let mut data = call("destination-identity", "m", "p");
    data.response_timeout = Duration::from_millis(500);
    let pending = spawn_call(&caller, data);
    let req = expect_request(dest.next_value().await);
    dest.send("caller-identity", ack(&req.id)).await;
    dest.send(
        "caller-identity",
        data_packet::Value::RpcResponse(RpcResponse {
            request_id: req.id.clone(),
            value: Some(rpc_response::Value::CompressedPayload(vec![1, 2, 3])),
        }),
    )
    .await;
    assert_eq!(pending.await.unwrap().unwrap_err().code, 1502);
}

/// Extra: the v2 caller accepts a response stream even for a request it sent as a packet
/// (the handler decides by the caller's advertised protocol).
#[tokio::test]
async fn client_accepts_stream_response_to_packet_request() {
    let (_room, caller, mut dest) = caller_setup(0).await;
    let pending = spawn_call(&caller, call("destination-identity", "m", "p"));
    let req = expect_request(dest.next_value().await);
    dest.send("caller-identity", ack(&req.id)).await;
    send_response_stream(&dest, "caller-identity", &req.id, "via stream").await;
    assert_eq!(pending.await.unwrap().unwrap(), "via stream");
}

/// Extra: on-wire timeout is max(t, 8000) while the local timer is t.
#[tokio::test]
async fn client_wire_timeout_is_clamped_to_8000_but_not_below_the_callers() {
    let (_room, caller, mut dest) = caller_setup(0).await;
    let mut data = call("destination-identity", "m", "p");
    data.response_timeout = Duration::from_secs(20);
    let pending = spawn_call(&caller, data);
    let req = expect_request(dest.next_value().await);
    assert_eq!(req.response_timeout_ms, 20_000);
    dest.send("caller-identity", response_ok(&req.id, "x"))
        .await;
    pending.await.unwrap().unwrap();
}

/// Extra: a destination that is not in the room is treated as protocol 0 (v1 packet,
/// dropped by the room); the timeout says nobody was there.
#[tokio::test(start_paused = true)]
async fn client_absent_destination_times_out_with_a_diagnosis() {
    let room = MemoryRoom::new();
    let caller = room.join("caller").await.unwrap();
    let err = caller
        .perform_rpc(call("ghost", "m", "p"))
        .await
        .unwrap_err();
    assert_eq!(err.code, 1501);
    let d = diagnosis(&err);
    assert!(!d.destination_in_room && d.published);
    assert_eq!(d.transport, livekit_typed_rpc::rpc::CallTransport::V1Packet);
    assert!(d.hint.contains("not in the room"), "{}", d.hint);
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

/// Extra: a response timeout after the ack says the handler was slow.
#[tokio::test(start_paused = true)]
async fn client_slow_handler_timeout_reports_the_ack() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("slow", |_d| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(String::new())
        })
        .unwrap();
    let client = room.join("client").await.unwrap();
    let mut data = call("server", "slow", "");
    data.response_timeout = Duration::from_secs(10);
    let err = client.perform_rpc(data).await.unwrap_err();
    assert_eq!(err.code, 1502);
    let d = diagnosis(&err);
    assert!(d.acked_after_ms.is_some());
    assert!(
        d.hint.contains("handler for \"slow\" did not answer"),
        "{}",
        d.hint
    );
    assert!(d.waited_ms >= 10_000);
}

/// Extra: a call whose publish fails returns SEND_FAILED and leaves nothing behind.
#[tokio::test]
async fn client_publish_failure_is_send_failed_without_leftovers() {
    let room = MemoryRoom::with_config(RoomConfig {
        max_message_bytes: Some(1_000),
        ..Default::default()
    });
    let _dest = RawPeer::join(&room, "old", 0, false);
    let caller = room.join("caller").await.unwrap();
    let err = caller
        .perform_rpc(call("old", "m", &"x".repeat(5_000)))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.message.as_str()), (1505, "Failed to send"));
    let d = diagnosis(&err);
    assert!(!d.published);
    assert!(
        d.hint.contains("exceeds the data channel limit"),
        "{}",
        d.hint
    );
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

/// Extra: a caller that gives up (drops the call) leaves no pending state.
#[tokio::test]
async fn client_abandoned_call_leaves_no_state() {
    let (_room, caller, _dest) = caller_setup(1).await;
    let r = tokio::time::timeout(
        Duration::from_millis(20),
        caller.perform_rpc(call("destination-identity", "m", "p")),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

/// Extra: a participant that has left cannot call.
#[tokio::test]
async fn client_after_leaving_is_send_failed() {
    let (_room, caller, _dest) = caller_setup(1).await;
    caller.leave().await;
    let err = caller
        .perform_rpc(call("destination-identity", "m", "p"))
        .await
        .unwrap_err();
    assert_eq!(err.code, 1505);
    assert!(diagnosis(&err).hint.contains("left the room"));
}

// ============================================================== handler: v1 -> v1 (caller 0)

/// Spec 17; JS "should receive a rpc message from a participant".
#[tokio::test]
async fn server_v1_receives_request_acks_then_responds_with_a_packet() {
    let (_room, handler, mut caller) = handler_setup(0).await;
    handler
        .register_rpc_method("test-method", |_d| async {
            Ok("response payload".to_string())
        })
        .unwrap();
    caller
        .send(
            "handler-identity",
            v1_request("test-request-id", "test-method", "test payload", 5000, 1),
        )
        .await;
    assert_eq!(expect_ack(caller.next_value().await), "test-request-id");
    let r = expect_response(caller.next_value().await);
    assert_eq!(r.request_id, "test-request-id");
    assert_eq!(
        r.value,
        Some(rpc_response::Value::Payload("response payload".into()))
    );
    caller.expect_no_packet(Duration::from_millis(30)).await;
}

/// JS "should register a RPC method handler" (v1 and v2 variants).
#[tokio::test]
async fn server_handler_receives_exactly_the_invocation_data() {
    let (_room, handler, mut caller) = handler_setup(0).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    handler
        .register_rpc_method("test-method", move |d| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(d);
                Ok("ok".to_string())
            }
        })
        .unwrap();
    caller
        .send(
            "handler-identity",
            v1_request("test-request-id", "test-method", "test payload", 5000, 1),
        )
        .await;
    let data = rx.recv().await.unwrap();
    assert_eq!(
        data,
        RpcInvocationData {
            request_id: "test-request-id".into(),
            caller_identity: "caller-identity".into(),
            payload: "test payload".into(),
            response_timeout: Duration::from_millis(5000),
            caller_kind: livekit_typed_rpc::ParticipantKind::Standard,
            caller_attributes: Default::default(),
        }
    );
    expect_ack(caller.next_value().await);
    expect_response(caller.next_value().await);

    // v2
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("v2-id", "test-method", "5000"),
        "v2 payload",
    )
    .await;
    let data = rx.recv().await.unwrap();
    assert_eq!(
        (
            data.request_id.as_str(),
            data.payload.as_str(),
            data.response_timeout
        ),
        ("v2-id", "v2 payload", Duration::from_millis(5000))
    );
}

/// Spec 18; JS "should catch and transform unhandled errors in the RPC method handler" (v1).
#[tokio::test]
async fn server_v1_handler_panic_becomes_application_error() {
    let (_room, handler, mut caller) = handler_setup(0).await;
    handler
        .register_rpc_method("boom", |_d| async { panic!("kaboom") })
        .unwrap();
    caller
        .send("handler-identity", v1_request("r1", "boom", "", 5000, 1))
        .await;
    assert_eq!(expect_ack(caller.next_value().await), "r1");
    let (id, e) = expect_error(caller.next_value().await);
    assert_eq!((id.as_str(), e.code), ("r1", 1500));
    assert_eq!(e.message, "Application error in method handler");
    assert!(e.data.contains("kaboom"), "{}", e.data);
    // The participant keeps serving.
    register_echo(&handler, "echo").await;
    caller
        .send(
            "handler-identity",
            v1_request("r2", "echo", "still here", 5000, 1),
        )
        .await;
    expect_ack(caller.next_value().await);
    let r = expect_response(caller.next_value().await);
    assert_eq!(
        r.value,
        Some(rpc_response::Value::Payload("still here".into()))
    );
}

/// Spec 19; JS "should pass through RpcError thrown by the RPC method handler" (v1).
#[tokio::test]
async fn server_v1_rpc_error_passes_through() {
    let (_room, handler, mut caller) = handler_setup(0).await;
    handler
        .register_rpc_method("fail", |_d| async {
            Err(RpcError::new(101, "some-error-message", None))
        })
        .unwrap();
    caller
        .send("handler-identity", v1_request("r1", "fail", "", 5000, 1))
        .await;
    expect_ack(caller.next_value().await);
    let (_, e) = expect_error(caller.next_value().await);
    assert_eq!(
        (e.code, e.message.as_str(), e.data.as_str()),
        (101, "some-error-message", "")
    );
}

// ============================================================== handler: v2 -> v2 (caller >= 1)

/// Spec 3; JS "should receive a small rpc request (< 15kb) and send a small response via
/// data stream from a participant".
#[tokio::test]
async fn server_v2_small_request_response_goes_as_a_stream() {
    let (room, handler, mut caller) = handler_setup(1).await;
    handler
        .register_rpc_method("test-method", |_d| async {
            Ok("response payload".to_string())
        })
        .unwrap();
    let rec = room.record_packets();
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("req-1", "test-method", "15000"),
        "request",
    )
    .await;
    assert_eq!(expect_ack(caller.next_value().await), "req-1");
    let (h, body, _) = caller.next_stream().await;
    assert_eq!(h.topic, proto::RPC_RESPONSE_TOPIC);
    assert_eq!(
        h.attributes,
        HashMap::from([(proto::ATTR_REQUEST_ID.to_string(), "req-1".to_string())])
    );
    assert_eq!(body, b"response payload");
    caller.expect_no_packet(Duration::from_millis(30)).await;
    let from_handler: Vec<_> = rec
        .take()
        .into_iter()
        .filter(|p| p.from == "handler-identity")
        .collect();
    assert!(from_handler
        .iter()
        .all(|p| p.packet.destination_identities == vec!["caller-identity".to_string()]));
    assert!(!from_handler
        .iter()
        .any(|p| matches!(p.packet.value, Some(data_packet::Value::RpcResponse(_)))));
}

/// Spec 4; JS "should receive a large rpc request (> 15kb) and send a large response via
/// data stream from a participant".
#[tokio::test]
async fn server_v2_large_request_and_response() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    handler
        .register_rpc_method("big", |d| async move {
            assert_eq!(d.payload, "A".repeat(20_000));
            Ok("B".repeat(20_000))
        })
        .unwrap();
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("req-1", "big", "15000"),
        &"A".repeat(20_000),
    )
    .await;
    expect_ack(caller.next_value().await);
    let (h, body, packets) = caller.next_stream().await;
    assert_eq!(h.attributes[proto::ATTR_REQUEST_ID], "req-1");
    assert_eq!((body, packets), ("B".repeat(20_000).into_bytes(), 4));
}

/// Spec 6; JS "should catch and transform unhandled errors in the RPC method handler" (v2).
#[tokio::test]
async fn server_v2_handler_panic_becomes_application_error_packet() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    handler
        .register_rpc_method("boom", |_d| async { panic!("kaboom") })
        .unwrap();
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("r1", "boom", "15000"),
        "",
    )
    .await;
    expect_ack(caller.next_value().await);
    let (_, e) = expect_error(caller.next_value().await);
    assert_eq!(e.code, 1500);
    caller.expect_no_packet(Duration::from_millis(30)).await;
}

/// Spec 7; JS "should pass through RpcError thrown by the RPC method handler" (v2).
#[tokio::test]
async fn server_v2_rpc_error_passes_through_as_a_packet() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    handler
        .register_rpc_method("fail", |_d| async {
            Err(RpcError::new(101, "some-error-message", Some("d".into())))
        })
        .unwrap();
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("r1", "fail", "15000"),
        "",
    )
    .await;
    expect_ack(caller.next_value().await);
    let (_, e) = expect_error(caller.next_value().await);
    assert_eq!(
        (e.code, e.message.as_str(), e.data.as_str()),
        (101, "some-error-message", "d")
    );
}

/// Spec 5; JS "should ack and respond with UNSUPPORTED_METHOD for an unregistered method".
#[tokio::test]
async fn server_v2_unregistered_method_acks_then_unsupported_method() {
    let (_room, _handler, mut caller) = handler_setup(1).await;
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("r1", "nope", "15000"),
        "x",
    )
    .await;
    assert_eq!(expect_ack(caller.next_value().await), "r1");
    let (id, e) = expect_error(caller.next_value().await);
    assert_eq!(
        (id.as_str(), e.code, e.message.as_str()),
        ("r1", 1400, "Method not supported at destination")
    );
    caller.expect_no_packet(Duration::from_millis(30)).await;
}

/// Same for v1: ack, then UNSUPPORTED_METHOD.
#[tokio::test]
async fn server_v1_unregistered_method_acks_then_unsupported_method() {
    let (_room, _handler, mut caller) = handler_setup(0).await;
    caller
        .send("handler-identity", v1_request("r1", "nope", "", 5000, 1))
        .await;
    expect_ack(caller.next_value().await);
    assert_eq!(expect_error(caller.next_value().await).1.code, 1400);
}

/// JS "should use v1 protocol (RpcResponse packet) when responding to a v1 caller".
#[tokio::test]
async fn server_responds_with_a_packet_to_a_v1_caller() {
    let (room, handler, mut caller) = handler_setup(0).await;
    register_echo(&handler, "echo").await;
    let rec = room.record_packets();
    caller
        .send("handler-identity", v1_request("r1", "echo", "hi", 8000, 1))
        .await;
    expect_ack(caller.next_value().await);
    let r = expect_response(caller.next_value().await);
    assert_eq!(r.value, Some(rpc_response::Value::Payload("hi".into())));
    assert!(!rec
        .take()
        .iter()
        .any(|p| matches!(p.packet.value, Some(data_packet::Value::StreamHeader(_)))));
}

/// Extra: a v1 request from a caller advertising >= 1 is answered with a stream.
#[tokio::test]
async fn server_answers_v1_request_from_v2_caller_with_a_stream() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    register_echo(&handler, "echo").await;
    caller
        .send("handler-identity", v1_request("r1", "echo", "hi", 8000, 1))
        .await;
    expect_ack(caller.next_value().await);
    let (h, body, _) = caller.next_stream().await;
    assert_eq!(
        (h.topic.as_str(), body.as_slice()),
        (proto::RPC_RESPONSE_TOPIC, b"hi".as_slice())
    );
}

/// Extra: malformed v2 attributes get an APPLICATION_ERROR packet and no ack.
#[tokio::test]
async fn server_v2_malformed_attributes_error_without_ack() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    register_echo(&handler, "echo").await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            (proto::ATTR_REQUEST_METHOD, "echo"),
            (proto::ATTR_RESPONSE_TIMEOUT_MS, "8000"),
            (proto::ATTR_REQUEST_VERSION, "2"),
        ],
        vec![
            (proto::ATTR_REQUEST_ID, "r2"),
            (proto::ATTR_RESPONSE_TIMEOUT_MS, "8000"),
            (proto::ATTR_REQUEST_VERSION, "2"),
        ],
        vec![
            (proto::ATTR_REQUEST_ID, "r3"),
            (proto::ATTR_REQUEST_METHOD, "echo"),
            (proto::ATTR_RESPONSE_TIMEOUT_MS, "soon"),
            (proto::ATTR_REQUEST_VERSION, "2"),
        ],
        vec![
            (proto::ATTR_REQUEST_ID, "r4"),
            (proto::ATTR_REQUEST_METHOD, "echo"),
            (proto::ATTR_RESPONSE_TIMEOUT_MS, "8000"),
        ],
    ];
    let expected_ids = ["", "r2", "r3", "r4"];
    for (attrs, id) in cases.iter().zip(expected_ids) {
        send_request_stream(&caller, "handler-identity", attrs, "x").await;
        let (rid, e) = expect_error(caller.next_value().await);
        assert_eq!(
            (rid.as_str(), e.code, e.data.as_str()),
            (id, 1500, "RPC data stream malformed")
        );
    }
    // parseInt leniency: "2abc" reads as 2, as in JavaScript.
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("r5", "echo", "9000ms"),
        "ok",
    )
    .await;
    assert_eq!(expect_ack(caller.next_value().await), "r5");
}

/// Extra: v2 version attribute "3" ⇒ ack + UNSUPPORTED_VERSION.
#[tokio::test]
async fn server_v2_unknown_version_acks_then_unsupported_version() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    register_echo(&handler, "echo").await;
    let attrs = vec![
        (proto::ATTR_REQUEST_ID, "r1"),
        (proto::ATTR_REQUEST_METHOD, "echo"),
        (proto::ATTR_RESPONSE_TIMEOUT_MS, "8000"),
        (proto::ATTR_REQUEST_VERSION, "3"),
    ];
    send_request_stream(&caller, "handler-identity", &attrs, "x").await;
    expect_ack(caller.next_value().await);
    let (_, e) = expect_error(caller.next_value().await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (1404, "Unsupported RPC version")
    );
}

/// Extra: v1 packet with version 2 ⇒ ack + UNSUPPORTED_VERSION.
#[tokio::test]
async fn server_v1_packet_version_2_acks_then_unsupported_version() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    register_echo(&handler, "echo").await;
    caller
        .send("handler-identity", v1_request("r1", "echo", "x", 8000, 2))
        .await;
    expect_ack(caller.next_value().await);
    assert_eq!(expect_error(caller.next_value().await).1.code, 1404);
}

/// Extra: a response over 15 360 bytes to a v1 caller ⇒ RESPONSE_PAYLOAD_TOO_LARGE.
#[tokio::test]
async fn server_v1_caller_with_oversized_response_gets_1504() {
    let (_room, handler, mut caller) = handler_setup(0).await;
    handler
        .register_rpc_method("big", |_d| async { Ok("x".repeat(15_361)) })
        .unwrap();
    caller
        .send("handler-identity", v1_request("r1", "big", "", 8000, 1))
        .await;
    expect_ack(caller.next_value().await);
    let (_, e) = expect_error(caller.next_value().await);
    assert_eq!(
        (e.code, e.message.as_str()),
        (1504, "Response payload too large")
    );
}

/// Extra: a request stream cut off by the caller's departure is an APPLICATION_ERROR
/// ("Error reading RPC request payload") and the handler never runs.
#[tokio::test]
async fn server_v2_request_stream_read_failure_is_application_error() {
    let (room, handler, mut caller) = handler_setup(1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    handler
        .register_rpc_method("echo", move |d| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { Ok(d.payload) }
        })
        .unwrap();
    let rec = room.record_packets();
    let mut h = text_header("s1", proto::RPC_REQUEST_TOPIC, Some(10));
    h.attributes = v2_attrs("r1", "echo", "8000")
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    caller.send("handler-identity", header_packet(h)).await;
    caller
        .send("handler-identity", chunk("s1", 0, b"abc"))
        .await;
    caller
        .send("handler-identity", trailer("s1", "aborted", &[]))
        .await;
    expect_ack(caller.next_value().await);
    let (_, e) = expect_error(caller.next_value().await);
    assert_eq!(e.code, 1500);
    assert!(
        e.data.starts_with("Error reading RPC request payload"),
        "{}",
        e.data
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    drop(rec);
}

/// Extra: errors are cut to 256 / 15 360 bytes on character boundaries.
#[tokio::test]
async fn server_error_message_and_data_are_truncated_on_char_boundaries() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("fail", |_d| async {
            Err(RpcError {
                code: 4000,
                message: "é".repeat(300),
                data: Some("€".repeat(10_000)),
            })
        })
        .unwrap();
    let client = room.join("client").await.unwrap();
    let e = client
        .perform_rpc(call("server", "fail", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code, 4000);
    assert_eq!(e.message, "é".repeat(128));
    assert_eq!(e.data.unwrap(), "€".repeat(5_120));
}

/// Handlers run concurrently: two invocations that wait for each other both complete.
#[tokio::test]
async fn server_handlers_run_concurrently() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    server
        .register_rpc_method("meet", move |d| {
            let b = barrier.clone();
            async move {
                b.wait().await;
                Ok(d.payload)
            }
        })
        .unwrap();
    let client = room.join("client").await.unwrap();
    // Run one at a time, the first would wait at the barrier until it timed out.
    let meet = |p: &str| {
        let mut data = call("server", "meet", p);
        data.response_timeout = Duration::from_secs(2);
        client.perform_rpc(data)
    };
    let (a, b) = tokio::join!(meet("a"), meet("b"));
    assert_eq!((a.unwrap(), b.unwrap()), ("a".to_string(), "b".to_string()));
    assert_eq!(server.diagnostics().running_handlers, 0);
}

#[tokio::test]
async fn registering_twice_fails_and_unregister_stops_serving() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    register_echo(&server, "echo").await;
    let again =
        server.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) });
    assert!(again
        .unwrap_err()
        .to_string()
        .contains("already registered for method echo"));
    let client = room.join("client").await.unwrap();
    assert_eq!(
        client
            .perform_rpc(call("server", "echo", "x"))
            .await
            .unwrap(),
        "x"
    );
    assert!(server.unregister_rpc_method("echo"));
    let e = client
        .perform_rpc(call("server", "echo", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.code, 1400);
}

// ============================================================== timers never leak

/// 10 000 calls that time out or hit a departed peer leave no pending entry, timer or task.
#[tokio::test(start_paused = true)]
async fn ten_thousand_failed_calls_leave_nothing_behind() {
    let room = MemoryRoom::new();
    let silent = RawPeer::join(&room, "silent", 2, true);
    let mut leaver = RawPeer::join(&room, "leaver", 1, false);
    let caller = room.join("caller").await.unwrap();
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..10_000 {
        let dest = if i % 2 == 0 { "silent" } else { "leaver" };
        let mut data = call(dest, "m", "p");
        data.response_timeout = Duration::from_millis(100 + (i % 7) as u64);
        let c = caller.clone();
        calls.spawn(async move { c.perform_rpc(data).await });
    }
    // Let every request reach the leaver, then make it go.
    for _ in 0..5_000 {
        leaver.next_stream().await;
    }
    leaver.transport.leave();
    let mut codes = HashMap::new();
    while let Some(r) = calls.join_next().await {
        *codes.entry(r.unwrap().unwrap_err().code).or_insert(0) += 1;
    }
    assert_eq!(codes.get(&1502), Some(&5_000), "{codes:?}");
    assert_eq!(codes.get(&1503), Some(&5_000), "{codes:?}");
    assert_eq!(caller.diagnostics().pending_calls, 0);
    // Nothing keeps running: jump past every timer and count tasks again.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        baseline
    );
    drop(silent);
}

// ============================================================== mixed rooms

fn profiles() -> Vec<(&'static str, JoinOptions)> {
    vec![
        ("p0", options(0, false)),
        ("p1", options(1, false)),
        ("p2-raw", options(2, false)),
        ("p2-deflate", options(2, true)),
        ("p2-deflate-b", options(2, true)),
    ]
}

async fn mixed_room() -> (MemoryRoom, Vec<(Participant, JoinOptions)>) {
    let room = MemoryRoom::new();
    let mut all = Vec::new();
    for (name, opts) in profiles() {
        let p = room.join_with(name, opts.clone()).await.unwrap();
        register_echo(&p, "echo").await;
        p.register_rpc_method("len", |d| async move { Ok(d.payload.len().to_string()) })
            .unwrap();
        all.push((p, opts));
    }
    (room, all)
}

#[tokio::test]
async fn mixed_room_every_pair_completes_small_calls() {
    let (_room, all) = mixed_room().await;
    for (a, _) in &all {
        for (b, _) in &all {
            if a.identity() == b.identity() {
                continue;
            }
            let payload = format!("{} -> {} ✓", a.identity(), b.identity());
            let reply = a.perform_rpc(call(b.identity(), "echo", &payload)).await;
            assert_eq!(reply.unwrap(), payload);
        }
    }
}

#[tokio::test]
async fn mixed_room_large_calls_where_the_destination_speaks_v2() {
    let (room, all) = mixed_room().await;
    let payload = incompressible_text(8_000_000, 21);
    let rec = room.record_packets();
    for (a, a_opts) in &all {
        for (b, b_opts) in &all {
            if a.identity() == b.identity() || b_opts.client_protocol < 1 {
                continue;
            }
            let result = a.perform_rpc(call(b.identity(), "echo", &payload)).await;
            if a_opts.client_protocol == 0 {
                // An SDK from before RPC v2 can only send 15 KiB packets, whoever it calls.
                assert_eq!(
                    result.unwrap_err().code,
                    1402,
                    "{} -> {}",
                    a.identity(),
                    b.identity()
                );
            } else {
                match result {
                    Ok(reply) => assert!(reply == payload, "{} -> {}", a.identity(), b.identity()),
                    Err(e) => panic!(
                        "{} -> {}: {e}; remotes {:?}",
                        a.identity(),
                        b.identity(),
                        a.remote_participants()
                    ),
                }
            }
        }
    }
    // Large requests from the legacy participant cannot go; its large responses cannot
    // either: a protocol-2 handler answers it with RESPONSE_PAYLOAD_TOO_LARGE.
    let legacy = &all[0].0;
    legacy.unregister_rpc_method("echo");
    legacy
        .register_rpc_method("echo", |_d| async { Ok(String::new()) })
        .unwrap();
    all[3]
        .0
        .register_rpc_method("big", |_d| async { Ok("x".repeat(100_000)) })
        .unwrap();
    let e = legacy
        .perform_rpc(call("p2-deflate", "big", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code, 1504);
    // Compression was used exactly between the deflate-capable participants.
    let compressed: std::collections::HashSet<_> = rec
        .take()
        .into_iter()
        .filter(|p| {
            matches!(&p.packet.value, Some(data_packet::Value::StreamHeader(h))
                if h.compression == proto::COMPRESSION_DEFLATE_RAW)
        })
        .map(|p| (p.from, p.to.join(",")))
        .collect();
    let expected: std::collections::HashSet<_> = [
        ("p2-deflate".to_string(), "p2-deflate-b".to_string()),
        ("p2-deflate-b".to_string(), "p2-deflate".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(compressed, expected);
}

/// Extra: `UNSUPPORTED_SERVER` when the server reports a version below 1.8.0; nothing sent.
#[tokio::test]
async fn client_refuses_rpc_on_a_server_older_than_1_8_0() {
    for (version, refused) in [
        ("1.7.2", true),
        ("1.8.0", false),
        ("1.10.1", false),
        ("garbage", false),
    ] {
        let room = MemoryRoom::with_config(RoomConfig {
            server_version: Some(version.into()),
            ..Default::default()
        });
        let server = room.join("server").await.unwrap();
        register_echo(&server, "echo").await;
        let client = room.join("client").await.unwrap();
        let rec = room.record_packets();
        let result = client.perform_rpc(call("server", "echo", "x")).await;
        if refused {
            let e = result.unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                (1403, "RPC not supported by server")
            );
            assert!(diagnosis(&e).hint.contains("1.7.2"));
            assert!(rec.take().is_empty());
        } else {
            assert_eq!(result.unwrap(), "x", "{version}");
        }
    }
}

/// Extra: the reference registers only *text* handlers for the RPC topics, so a byte stream
/// on `lk.rpc_request` is ignored: no ack, no response, the handler never runs.
#[tokio::test]
async fn server_ignores_a_byte_stream_on_the_request_topic() {
    let (_room, handler, mut caller) = handler_setup(1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    handler
        .register_rpc_method("echo", move |d| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { Ok(d.payload) }
        })
        .unwrap();
    let mut h = byte_header("b1", proto::RPC_REQUEST_TOPIC, Some(2));
    h.attributes = v2_attrs("r1", "echo", "8000")
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    h.inline_content = Some(b"hi".to_vec());
    caller.send("handler-identity", header_packet(h)).await;
    caller.expect_no_packet(Duration::from_millis(100)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // The same request as a text stream is served.
    send_request_stream(
        &caller,
        "handler-identity",
        &v2_attrs("r2", "echo", "8000"),
        "hi",
    )
    .await;
    assert_eq!(expect_ack(caller.next_value().await), "r2");
}
