//! Interop with LiveKit's own Rust crates: the public `backend` managers of `livekit-rpc`
//! 0.2.0 and `livekit-data-stream` 0.2.0 run as a participant of our `MemoryRoom` through
//! their `RpcTransport` trait, and both sides call each other.

mod support;

use support::lk::LkPeer;

use std::sync::Arc;
use std::time::Duration;

use livekit_typed_rpc::proto::{self, data_packet};
use livekit_typed_rpc::{
    livekit_rpc, CallError, JoinOptions, MemoryRoom, Participant, PerformRpcData, RpcContext,
    RpcInvocationData,
};
use serde::{Deserialize, Serialize};

// ------------------------------------------------------------------ the services

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub joint: u8,
    pub angle: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArmError {
    OutOfReach { limit: f32 },
}

/// Served by our side.
#[livekit_rpc(namespace = "robot")]
pub trait Robot {
    /// Typed.
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError>;
    /// Raw echo.
    #[rpc(raw)]
    async fn echo(&self, text: String) -> String;
    /// Panics.
    async fn explode(&self) -> u8;
    /// Context.
    async fn who(&self, ctx: RpcContext) -> String;
}

struct Arm;

impl Robot for Arm {
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError> {
        if angle > 90.0 {
            return Err(ArmError::OutOfReach { limit: 90.0 });
        }
        Ok(Pose { joint, angle })
    }
    async fn echo(&self, text: String) -> String {
        text
    }
    async fn explode(&self) -> u8 {
        panic!("exploded")
    }
    async fn who(&self, ctx: RpcContext) -> String {
        format!(
            "{} {}",
            ctx.caller_identity,
            ctx.response_timeout.as_millis()
        )
    }
}

/// Served by LiveKit's `RpcServerManager`, called through our typed client.
#[livekit_rpc]
pub trait LkSide {
    /// `{"a", "b"}` to their sum.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// An RpcError with a custom code and typed data.
    #[rpc(name = "fail")]
    async fn fail(&self) -> Result<u8, ArmError>;
    /// Raw echo.
    #[rpc(raw)]
    async fn echo(&self, text: String) -> String;
}

async fn world(
    lk_protocol: i32,
    lk_compression: bool,
) -> (MemoryRoom, Participant, livekit_typed_rpc::Serving, LkPeer) {
    let room = MemoryRoom::new();
    let ours = room.join("ours").await.unwrap();
    let serving = ours.serve(RobotServer::new(Arm)).unwrap();
    let lk = LkPeer::join(
        &room,
        "lk",
        JoinOptions {
            client_protocol: lk_protocol,
            compression: lk_compression,
            ..Default::default()
        },
    )
    .await;
    lk.register("add", |d| {
        let v: serde_json::Value = serde_json::from_str(&d.payload)
            .map_err(|e| livekit_rpc::api::RpcError::new(1, e.to_string(), None))?;
        Ok((v["a"].as_i64().unwrap_or(0) + v["b"].as_i64().unwrap_or(0)).to_string())
    });
    lk.register("fail", |_| {
        Err(livekit_rpc::api::RpcError::new(
            4001,
            "out of reach".into(),
            Some(r#"{"OutOfReach":{"limit":90.0}}"#.into()),
        ))
    });
    lk.register("echo", |d| Ok(d.payload));
    (room, ours, serving, lk)
}

const PROFILES: [(i32, bool); 3] = [(1, false), (2, false), (2, true)];

#[tokio::test]
async fn livekit_rpc_calls_our_typed_service() {
    for (protocol, compression) in PROFILES {
        let (_room, _ours, _serving, lk) = world(protocol, compression).await;
        let label = format!("lk protocol {protocol} compression {compression}");
        let r = lk
            .call("ours", "robot.move_arm", r#"{"joint":2,"angle":41.5}"#)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Pose>(&r).unwrap(),
            Pose {
                joint: 2,
                angle: 41.5
            },
            "{label}"
        );
        let e = lk
            .call("ours", "robot.move_arm", r#"{"joint":2,"angle":100}"#)
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.data.as_deref()),
            (1500, Some(r#"{"OutOfReach":{"limit":90.0}}"#)),
            "{label}"
        );
        let e = lk.call("ours", "robot.explode", "").await.unwrap_err();
        assert_eq!(e.code, 1500, "{label}");
        let e = lk.call("ours", "robot.nope", "").await.unwrap_err();
        assert_eq!(e.code, 1400, "{label}");
        // livekit-rpc sends max(timeout - round trip, 1 s) on the wire: 15 s - 7 s.
        assert_eq!(
            lk.call("ours", "robot.who", "").await.unwrap(),
            r#""lk 8000""#,
            "{label}"
        );
        let big = support::incompressible_text(8_000_000, 2);
        assert_eq!(
            lk.call("ours", "robot.echo", &big).await.unwrap(),
            big,
            "{label}"
        );
    }
}

#[tokio::test]
async fn our_typed_client_calls_livekit_rpc() {
    for (protocol, compression) in PROFILES {
        let (room, ours, _serving, _lk) = world(protocol, compression).await;
        let label = format!("lk protocol {protocol} compression {compression}");
        let client = LkSideClient::new(ours.clone(), "lk");
        assert_eq!(client.add(40, 2).await.unwrap(), 42, "{label}");
        assert_eq!(
            client.fail().await.unwrap_err(),
            CallError::Application(ArmError::OutOfReach { limit: 90.0 }),
            "{label}"
        );
        let rec = room.record_packets();
        let big = support::incompressible_text(8_000_000, 4);
        assert_eq!(client.echo(big.clone()).await.unwrap(), big, "{label}");
        // The request went as a stream shaped by what LiveKit's side advertises.
        let request = rec
            .take()
            .into_iter()
            .find_map(|p| match p.packet.value {
                Some(data_packet::Value::StreamHeader(h))
                    if p.from == "ours" && h.topic == proto::RPC_REQUEST_TOPIC =>
                {
                    Some(h)
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(
            request.compression == proto::COMPRESSION_DEFLATE_RAW,
            protocol == 2 && compression,
            "{label}"
        );
        let e = ours
            .perform_rpc(PerformRpcData {
                destination_identity: "lk".into(),
                method: "missing".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code, 1400, "{label}");
    }
}

#[tokio::test]
async fn legacy_protocol_0_livekit_peer_uses_packets_both_ways() {
    let (room, ours, _serving, lk) = world(0, false).await;
    let rec = room.record_packets();
    assert_eq!(
        LkSideClient::new(ours.clone(), "lk")
            .add(1, 2)
            .await
            .unwrap(),
        3
    );
    let packets = rec.take();
    assert!(packets
        .iter()
        .any(|p| p.from == "ours"
            && matches!(p.packet.value, Some(data_packet::Value::RpcRequest(_)))));
    assert!(!packets
        .iter()
        .any(|p| p.from == "ours"
            && matches!(p.packet.value, Some(data_packet::Value::StreamHeader(_)))));
    // Their call to us: we answer a protocol-0 caller with a packet.
    assert_eq!(lk.call("ours", "robot.echo", "hi").await.unwrap(), "hi");
    let e = ours
        .perform_rpc(PerformRpcData {
            destination_identity: "lk".into(),
            method: "echo".into(),
            payload: "x".repeat(20_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, 1402);
}

#[tokio::test]
async fn livekit_rpc_sees_us_leave_and_we_see_it_leave() {
    let (room, ours, _serving, lk) = world(2, true).await;
    ours.register_rpc_method("hang", |_d: RpcInvocationData| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(String::new())
    })
    .unwrap();
    let lk = Arc::new(lk);
    let l = lk.clone();
    let pending = tokio::spawn(async move { l.call("ours", "hang", "").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    ours.leave().await;
    let e = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, 1503);
    drop(room);
}

#[tokio::test]
async fn concurrent_calls_in_both_directions() {
    let (_room, ours, _serving, lk) = world(2, true).await;
    let lk = Arc::new(lk);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let l = lk.clone();
        set.spawn(async move {
            (
                format!("lk-{i}"),
                l.call("ours", "robot.echo", &format!("lk-{i}"))
                    .await
                    .map_err(|e| e.code),
            )
        });
        let o = ours.clone();
        set.spawn(async move {
            let p = format!("ours-{i}");
            (
                p.clone(),
                o.perform_rpc(PerformRpcData {
                    destination_identity: "lk".into(),
                    method: "echo".into(),
                    payload: p,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.code),
            )
        });
    }
    while let Some(r) = set.join_next().await {
        let (expected, got) = r.unwrap();
        assert_eq!(got.unwrap(), expected);
    }
}
