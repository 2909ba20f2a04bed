//! Interop with the real JavaScript SDK: livekit-client 2.23.0's own RpcClientManager,
//! RpcServerManager and data-stream managers (bundled from the package's shipped `src/` by
//! `tests/interop/js/build.mjs`), joined to our room over the room wire bridge. Both
//! directions, peers advertising protocol 0, 1 and 2, compression on and off.
//!
//! The Node dependencies are installed from the committed lockfile (`npm ci`) by the first
//! test that needs them; without Node.js or npm the tests fail saying what to install.

mod support;

use support::call;
use support::js::JsPeer;

use std::time::Duration;

use livekit_typed_rpc::proto::{self, data_packet};
use livekit_typed_rpc::room::RecordedPacket;
use livekit_typed_rpc::{
    bridge, livekit_rpc, CallError, MemoryRoom, Participant, RpcContext, RpcInvocationData,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

// ------------------------------------------------------------------ the Rust side

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub joint: u8,
    pub angle: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArmError {
    OutOfReach { joint: u8, limit: f32 },
}

/// What the Rust participant serves to JavaScript callers.
#[livekit_rpc(namespace = "robot")]
pub trait Robot {
    /// Typed arguments and result.
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError>;
    /// Raw pass-through.
    #[rpc(raw)]
    async fn echo(&self, text: String) -> String;
    /// Slow on purpose.
    async fn slow(&self, ms: u64) -> String;
    /// The context the handler sees.
    async fn who(&self, ctx: RpcContext) -> String;
}

struct Arm;

impl Robot for Arm {
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError> {
        if angle > 90.0 {
            return Err(ArmError::OutOfReach { joint, limit: 90.0 });
        }
        Ok(Pose { joint, angle })
    }
    async fn echo(&self, text: String) -> String {
        text
    }
    async fn slow(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        "done".into()
    }
    async fn who(&self, ctx: RpcContext) -> String {
        format!(
            "{} {}",
            ctx.caller_identity,
            ctx.response_timeout.as_millis()
        )
    }
}

/// Methods the JavaScript participant serves, called from Rust through typed stubs.
#[livekit_rpc]
pub trait JsSide {
    /// A JavaScript handler reading `{"a", "b"}` and returning their sum as JSON.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// A JavaScript handler that throws an RpcError carrying typed data.
    #[rpc(name = "app-error")]
    async fn app_error(&self) -> Result<(), ArmError>;
    /// A raw JavaScript echo.
    #[rpc(raw)]
    async fn echo(&self, text: String) -> String;
}

struct World {
    room: MemoryRoom,
    rust: Participant,
    _serving: livekit_typed_rpc::Serving,
    _bridge: bridge::BridgeServer,
    js: JsPeer,
}

const PROFILES: [(i32, bool); 4] = [(0, false), (1, false), (2, false), (2, true)];

async fn world(js_protocol: i32, js_compression: bool) -> World {
    let room = MemoryRoom::new();
    let rust = room.join("rust").await.unwrap();
    let serving = rust.serve(RobotServer::new(Arm)).unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut js = JsPeer::join(server.local_addr(), "js", js_protocol, js_compression).await;
    js.expect_event("joined").await;
    rust.wait_for_participant("js", Duration::from_secs(10))
        .await
        .unwrap();
    for (method, behaviour) in [
        ("echo", "echo"),
        ("add", "add"),
        ("app-error", "app-error"),
        ("throw", "throw"),
        ("slow", "slow"),
        ("length", "length"),
        ("invocation", "invocation"),
    ] {
        js.register(method, behaviour).await;
    }
    World {
        room,
        rust,
        _serving: serving,
        _bridge: server,
        js,
    }
}

fn headers<'a>(
    packets: &'a [RecordedPacket],
    from: &str,
    topic: &str,
) -> Vec<&'a proto::data_stream::Header> {
    packets
        .iter()
        .filter(|p| p.from == from)
        .filter_map(|p| match &p.packet.value {
            Some(data_packet::Value::StreamHeader(h)) if h.topic == topic => Some(h),
            _ => None,
        })
        .collect()
}

fn count(
    packets: &[RecordedPacket],
    from: &str,
    pred: impl Fn(&data_packet::Value) -> bool,
) -> usize {
    packets
        .iter()
        .filter(|p| p.from == from)
        .filter(|p| p.packet.value.as_ref().is_some_and(&pred))
        .count()
}

// ------------------------------------------------------------------ JavaScript calls Rust

#[tokio::test]
async fn js_calls_rust_typed_and_raw_methods_at_every_protocol() {
    for (protocol, compression) in PROFILES {
        let mut w = world(protocol, compression).await;
        let label = format!("js protocol {protocol} compression {compression}");
        // Typed arguments as the JSON a JavaScript caller writes by hand.
        let r =
            w.js.call("rust", "robot.move_arm", r#"{"joint": 2, "angle": 41.5}"#)
                .await;
        assert_eq!(
            serde_json::from_str::<Pose>(r["ok"].as_str().unwrap()).unwrap(),
            Pose {
                joint: 2,
                angle: 41.5
            },
            "{label}"
        );
        let r =
            w.js.call("rust", "robot.echo", "plain text, untouched")
                .await;
        assert_eq!(r["ok"], "plain text, untouched", "{label}");
        let r = w.js.call("rust", "robot.who", "").await;
        assert_eq!(r["ok"], r#""js 15000""#, "{label}");
        // The typed error arrives as code, Display-less message and JSON data.
        let r =
            w.js.call("rust", "robot.move_arm", r#"{"joint": 3, "angle": 120}"#)
                .await;
        assert_eq!(r["error"]["code"], 1500, "{label}: {r}");
        assert_eq!(
            r["error"]["data"], r#"{"OutOfReach":{"joint":3,"limit":90.0}}"#,
            "{label}"
        );
        // Arguments that do not decode name the parameter.
        let r =
            w.js.call("rust", "robot.move_arm", r#"{"joint": "two", "angle": 1}"#)
                .await;
        assert!(
            r["error"]["data"]
                .as_str()
                .unwrap()
                .contains("parameter `joint`"),
            "{label}: {r}"
        );
        // Unknown method.
        let r = w.js.call("rust", "robot.nope", "").await;
        assert_eq!(r["error"]["code"], 1400, "{label}: {r}");
        assert_eq!(r["error"]["message"], "Method not supported at destination");
        w.js.leave().await;
    }
}

/// A JavaScript caller is subject to the same caller policies: a method only agents may
/// call answers it UNSUPPORTED_METHOD, as `useRpc`'s identity filter does, and one that
/// allows its identity serves it.
#[tokio::test]
async fn js_caller_refused_by_a_caller_policy() {
    for (protocol, compression) in PROFILES {
        let label = format!("js protocol {protocol}, compression {compression}");
        let mut w = world(protocol, compression).await;
        w.rust
            .register_rpc_method_with_policy(
                "agents-only",
                livekit_typed_rpc::CallerPolicy::kind(livekit_typed_rpc::ParticipantKind::Agent),
                |_: RpcInvocationData| async { Ok("served".to_string()) },
            )
            .unwrap();
        w.rust
            .register_rpc_method_with_policy(
                "js-only",
                livekit_typed_rpc::CallerPolicy::identities(["js"]),
                |d: RpcInvocationData| async move { Ok(d.caller_identity) },
            )
            .unwrap();
        let r = w.js.call("rust", "agents-only", "").await;
        assert_eq!(r["error"]["code"], 1400, "{label}: {r}");
        assert_eq!(r["error"]["message"], "Method not supported at destination");
        let r = w.js.call("rust", "js-only", "").await;
        assert_eq!(r["ok"], "js", "{label}: {r}");
        w.js.leave().await;
    }
}

/// livekit-client 2.23 picks the request transport from the *destination's* advertised
/// protocol only, so even while advertising 0 or 1 itself it streams (inline, compressed)
/// to us, who advertise 2 with deflate-raw. Our answer depends on what *it* advertises, as
/// the reference's handler does: a stream from protocol 1 up, and for protocol 0 a packet,
/// which cannot carry 10 MB (RESPONSE_PAYLOAD_TOO_LARGE).
#[tokio::test]
async fn js_sends_ten_megabytes_to_rust() {
    for (protocol, compression) in PROFILES {
        let mut w = world(protocol, compression).await;
        let rec = w.room.record_packets();
        let payload = support::incompressible_text(10_000_000, 3);
        let r = w.js.call("rust", "robot.echo", &payload).await;
        let packets = rec.take();
        let requests = headers(&packets, "js", proto::RPC_REQUEST_TOPIC);
        assert_eq!(requests.len(), 1, "protocol {protocol}");
        assert_eq!(
            requests[0].compression,
            proto::COMPRESSION_DEFLATE_RAW,
            "protocol {protocol}"
        );
        assert_eq!(requests[0].total_length, Some(10_000_000));
        if protocol == 0 {
            assert_eq!(r["error"]["code"], 1504, "{r}");
            assert_eq!(r["error"]["message"], "Response payload too large");
            assert!(headers(&packets, "rust", proto::RPC_RESPONSE_TOPIC).is_empty());
            continue;
        }
        assert!(
            r["ok"].as_str() == Some(payload.as_str()),
            "protocol {protocol}"
        );
        // Our response is compressed only if the JavaScript side advertised deflate-raw.
        let responses = headers(&packets, "rust", proto::RPC_RESPONSE_TOPIC);
        assert_eq!(responses.len(), 1);
        assert_eq!(
            responses[0].compression == proto::COMPRESSION_DEFLATE_RAW,
            compression,
            "protocol {protocol}"
        );
        assert!(
            count(&packets, "rust", |v| matches!(
                v,
                data_packet::Value::StreamChunk(_)
            )) > 1
        );
        w.js.leave().await;
    }
}

#[tokio::test]
async fn js_handler_sees_the_invocation_data_rust_sends() {
    let w = world(2, true).await;
    let mut call = call("js", "invocation", "four");
    call.response_timeout = Duration::from_secs(3);
    let reply: Value = serde_json::from_str(&w.rust.perform_rpc(call).await.unwrap()).unwrap();
    assert_eq!(reply["callerIdentity"], "rust");
    assert_eq!(reply["payloadLength"], 4);
    // The caller's 3 s becomes the on-wire minimum of 8 s.
    assert_eq!(reply["responseTimeout"], 8000);
    assert_eq!(
        uuid::Uuid::parse_str(reply["requestId"].as_str().unwrap())
            .unwrap()
            .get_version_num(),
        4
    );
}

// ------------------------------------------------------------------ Rust calls JavaScript

#[tokio::test]
async fn rust_calls_js_methods_at_every_protocol() {
    for (protocol, compression) in PROFILES {
        let w = world(protocol, compression).await;
        let label = format!("js protocol {protocol} compression {compression}");
        let js = JsSideClient::new(w.rust.clone(), "js");
        assert_eq!(js.add(40, 2).await.unwrap(), 42, "{label}");
        assert_eq!(
            js.echo("ünïcødé ✓".into()).await.unwrap(),
            "ünïcødé ✓",
            "{label}"
        );
        // A JavaScript RpcError with custom code and data arrives as our typed error.
        assert_eq!(
            js.app_error().await.unwrap_err(),
            CallError::Application(ArmError::OutOfReach {
                joint: 3,
                limit: 90.0
            }),
            "{label}"
        );
        let raw = w
            .rust
            .perform_rpc(call("js", "app-error", ""))
            .await
            .unwrap_err();
        assert_eq!(
            (raw.code, raw.message.as_str()),
            (4001, "arm is out of reach")
        );
        // A handler exception is APPLICATION_ERROR (with its message on the v1 path).
        let e = w
            .rust
            .perform_rpc(call("js", "throw", ""))
            .await
            .unwrap_err();
        assert_eq!(e.code, 1500, "{label}");
        if protocol == 0 {
            assert_eq!(e.data.as_deref(), Some("Uncaught error: handler blew up"));
        }
        let e = w
            .rust
            .perform_rpc(call("js", "missing", ""))
            .await
            .unwrap_err();
        assert_eq!(e.code, 1400, "{label}");
        w.js.leave().await;
    }
}

#[tokio::test]
async fn rust_sends_ten_megabytes_to_js_with_the_right_stream_shape() {
    for (protocol, compression) in PROFILES {
        let w = world(protocol, compression).await;
        let rec = w.room.record_packets();
        let payload = support::incompressible_text(10_000_000, 8);
        let result = w.rust.perform_rpc(call("js", "length", &payload)).await;
        if protocol == 0 {
            assert_eq!(result.unwrap_err().code, 1402);
            continue;
        }
        assert_eq!(result.unwrap(), "10000000", "protocol {protocol}");
        let packets = rec.take();
        let requests = headers(&packets, "rust", proto::RPC_REQUEST_TOPIC);
        assert_eq!(requests.len(), 1);
        let h = requests[0];
        assert_eq!(h.inline_content, None);
        assert_eq!(h.total_length, Some(10_000_000));
        assert_eq!(
            h.compression == proto::COMPRESSION_DEFLATE_RAW,
            protocol == 2 && compression,
            "protocol {protocol}"
        );
        // livekit-client answered with a stream, since we advertise protocol 2.
        assert_eq!(headers(&packets, "js", proto::RPC_RESPONSE_TOPIC).len(), 1);
    }
}

#[tokio::test]
async fn small_calls_use_inline_packets_only_towards_protocol_2() {
    for (protocol, compression) in PROFILES {
        let w = world(protocol, compression).await;
        let rec = w.room.record_packets();
        let text = "hello hello hello hello hello hello hello hello";
        assert_eq!(
            w.rust.perform_rpc(call("js", "echo", text)).await.unwrap(),
            text
        );
        let packets = rec.take();
        let requests = headers(&packets, "rust", proto::RPC_REQUEST_TOPIC);
        match protocol {
            0 => {
                assert!(requests.is_empty());
                assert_eq!(
                    count(&packets, "rust", |v| matches!(
                        v,
                        data_packet::Value::RpcRequest(_)
                    )),
                    1
                );
            }
            1 => assert!(requests[0].inline_content.is_none()),
            _ => {
                // Inline, and never compressed under 1 KiB: it cannot pay.
                assert!(requests[0].inline_content.is_some());
                assert_eq!(requests[0].compression, proto::COMPRESSION_NONE);
            }
        }
        // livekit-client answers by *our* advertised protocol, whatever it advertises and
        // however the request came: one inline, compressed stream, even to a packet request.
        let responses = headers(&packets, "js", proto::RPC_RESPONSE_TOPIC);
        assert_eq!(responses.len(), 1, "protocol {protocol}");
        assert!(responses[0].inline_content.is_some());
        assert_eq!(responses[0].compression, proto::COMPRESSION_DEFLATE_RAW);

        // From 1 KiB on, ours is compressed too where the JavaScript side accepts it, and
        // livekit-client decompresses it.
        let text = text.repeat(50);
        assert_eq!(
            w.rust.perform_rpc(call("js", "echo", &text)).await.unwrap(),
            text
        );
        let packets = rec.take();
        let requests = headers(&packets, "rust", proto::RPC_REQUEST_TOPIC);
        if protocol == 2 {
            assert!(requests[0].inline_content.is_some());
            assert_eq!(
                requests[0].compression == proto::COMPRESSION_DEFLATE_RAW,
                compression,
                "protocol {protocol}, compression {compression}"
            );
        }
    }
}

// ------------------------------------------------------------------ failures

#[tokio::test]
async fn response_timeouts_in_both_directions() {
    let mut w = world(2, true).await;
    let mut call = call("js", "slow", "3000");
    call.response_timeout = Duration::from_millis(500);
    let e = w.rust.perform_rpc(call).await.unwrap_err();
    assert_eq!(e.code, 1502);
    let d = livekit_typed_rpc::CallDiagnosis::from_error(&e).unwrap();
    assert!(
        d.acked_after_ms.is_some(),
        "livekit-client acked before its handler ran"
    );
    let r = w
        .js
        .request(json!({"cmd": "call", "destination": "rust", "method": "robot.slow", "payload": r#"{"ms": 3000}"#, "responseTimeout": 500}))
        .await;
    assert_eq!(r["error"]["code"], 1502, "{r}");
    assert_eq!(r["error"]["message"], "Response timeout");
}

#[tokio::test]
async fn js_peer_leaving_mid_call_is_recipient_disconnected() {
    let w = world(2, true).await;
    let rust = w.rust.clone();
    let call = tokio::spawn(async move { rust.perform_rpc(call("js", "slow", "5000")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.js.leave().await;
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(e.code, 1503);
}

#[tokio::test]
async fn rust_peer_leaving_mid_call_is_recipient_disconnected_for_js() {
    let mut w = world(1, false).await;
    let pending = w.js.send(json!({"cmd": "call", "destination": "rust", "method": "robot.slow", "payload": r#"{"ms": 5000}"#})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.rust.leave().await;
    let r = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r["error"]["code"], 1503, "{r}");
    assert_eq!(r["error"]["message"], "Recipient disconnected");
}

#[tokio::test]
async fn twenty_concurrent_calls_in_both_directions() {
    for (protocol, compression) in [(0, false), (2, true)] {
        let mut w = world(protocol, compression).await;
        let mut js_calls = Vec::new();
        for i in 0..20 {
            js_calls.push((i, w.js.send(json!({"cmd": "call", "destination": "rust", "method": "robot.echo", "payload": format!("js-{i}")})).await));
        }
        let mut rust_calls = tokio::task::JoinSet::new();
        for i in 0..20 {
            let rust = w.rust.clone();
            rust_calls.spawn(async move {
                (
                    i,
                    rust.perform_rpc(call("js", "echo", &format!("rust-{i}")))
                        .await,
                )
            });
        }
        for (i, rx) in js_calls {
            let r = tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r["ok"], format!("js-{i}"));
        }
        while let Some(r) = rust_calls.join_next().await {
            let (i, reply) = r.unwrap();
            assert_eq!(reply.unwrap(), format!("rust-{i}"));
        }
        assert_eq!(w.rust.diagnostics().pending_calls, 0);
    }
}

#[tokio::test]
async fn plain_rust_handler_is_called_by_js() {
    let mut w = world(1, false).await;
    w.rust
        .register_rpc_method("rust-plain", |d: RpcInvocationData| async move {
            Ok(format!(
                "{}:{}:{}",
                d.caller_identity,
                d.payload,
                d.response_timeout.as_millis()
            ))
        })
        .unwrap();
    let r = w.js.request(json!({"cmd": "call", "destination": "rust", "method": "rust-plain", "payload": "x", "responseTimeout": 20000})).await;
    assert_eq!(r["ok"], "js:x:20000");
}

#[tokio::test]
async fn data_streams_from_rust_are_read_by_livekit_client() {
    let mut w = world(2, true).await;
    let text = "a long line of text ".repeat(5000);
    let sent = w
        .rust
        .send_text(
            &text,
            livekit_typed_rpc::streams::SendTextOptions::topic("interop"),
        )
        .await
        .unwrap();
    assert!(sent.compressed);
    let ev = w.js.expect_event("text_stream").await;
    assert_eq!(ev["from"], "rust");
    assert_eq!(ev["length"], text.len());
    // And a classic stream towards a protocol-1 reader.
    let mut w1 = world(1, false).await;
    w1.rust
        .send_text(
            &text,
            livekit_typed_rpc::streams::SendTextOptions::topic("interop"),
        )
        .await
        .unwrap();
    assert_eq!(
        w1.js.expect_event("text_stream").await["length"],
        text.len()
    );
}
