//! `#[livekit_rpc]` end to end on a `MemoryRoom`: typed calls, typed errors, context,
//! names, raw methods, and the wire format a JavaScript peer sees.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use livekit_typed_rpc::{
    livekit_rpc, CallError, ErrorCode, JoinOptions, MemoryRoom, PerformRpcData, RpcContext,
    RpcError, RpcErrorCode, RpcInvocationData,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub joint: u8,
    pub angle: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArmError {
    OutOfReach { joint: u8, limit: f32 },
    Busy,
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmError::OutOfReach { joint, limit } => {
                write!(f, "joint {joint} cannot go beyond {limit}")
            }
            ArmError::Busy => write!(f, "arm is busy"),
        }
    }
}

impl ErrorCode for ArmError {
    fn error_code(&self) -> u32 {
        match self {
            ArmError::OutOfReach { .. } => 4001,
            ArmError::Busy => 4002,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plain(pub String);

/// A robot arm.
#[livekit_rpc(namespace = "robot")]
pub trait Robot {
    /// Moves a joint.
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError>;
    /// A big binary snapshot.
    async fn snapshot(&self, size: u32) -> Vec<u8>;
    /// Who is calling.
    async fn whoami(&self, ctx: RpcContext) -> String;
    /// No arguments, no result.
    async fn ping(&self);
    /// Optional arguments may be absent.
    async fn greet(&self, name: String, title: Option<String>) -> String;
    /// Renamed on the wire.
    #[rpc(name = "legacy-echo", raw)]
    async fn echo(&self, text: String) -> String;
    /// A parameter renamed with serde.
    async fn renamed(&self, #[serde(rename = "jointId")] joint_id: u8) -> u8;
    /// Counts calls.
    async fn count(&self) -> u32;
    /// A plain error type without Display or ErrorCode.
    async fn plain_fail(&self) -> Result<(), Plain>;
    /// Never answers in time.
    async fn slow(&self, ms: u64) -> u64;
    /// Panics.
    async fn explode(&self) -> u8;
}

#[derive(Default)]
struct Arm {
    calls: AtomicU32,
}

impl Robot for Arm {
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError> {
        if angle > 90.0 {
            return Err(ArmError::OutOfReach { joint, limit: 90.0 });
        }
        Ok(Pose { joint, angle })
    }
    async fn snapshot(&self, size: u32) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }
    async fn whoami(&self, ctx: RpcContext) -> String {
        format!(
            "{} {}",
            ctx.caller_identity,
            ctx.response_timeout.as_millis()
        )
    }
    async fn ping(&self) {}
    async fn greet(&self, name: String, title: Option<String>) -> String {
        match title {
            Some(t) => format!("Hello, {t} {name}"),
            None => format!("Hello, {name}"),
        }
    }
    async fn echo(&self, text: String) -> String {
        text
    }
    async fn renamed(&self, joint_id: u8) -> u8 {
        joint_id + 1
    }
    async fn count(&self) -> u32 {
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }
    async fn plain_fail(&self) -> Result<(), Plain> {
        Err(Plain("nope".into()))
    }
    async fn slow(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
    async fn explode(&self) -> u8 {
        panic!("arm exploded")
    }
}

async fn setup() -> (
    MemoryRoom,
    livekit_typed_rpc::Participant,
    livekit_typed_rpc::Serving,
    RobotClient,
) {
    let room = MemoryRoom::new();
    let server = room.join("arm").await.unwrap();
    let serving = server.serve(RobotServer::new(Arm::default())).unwrap();
    let caller = room.join("operator").await.unwrap();
    let client = RobotClient::new(caller, "arm");
    (room, server, serving, client)
}

#[tokio::test]
async fn typed_calls_round_trip() {
    let (_room, _server, _serving, robot) = setup().await;
    assert_eq!(
        robot.move_arm(2, 41.5).await.unwrap(),
        Pose {
            joint: 2,
            angle: 41.5
        }
    );
    assert_eq!(robot.snapshot(3).await.unwrap(), vec![0, 1, 2]);
    assert_eq!(robot.whoami().await.unwrap(), "operator 15000");
    robot.ping().await.unwrap();
    assert_eq!(robot.greet("Ada".into(), None).await.unwrap(), "Hello, Ada");
    assert_eq!(
        robot.greet("Ada".into(), Some("Dr.".into())).await.unwrap(),
        "Hello, Dr. Ada"
    );
    assert_eq!(robot.echo("{not json".into()).await.unwrap(), "{not json");
    assert_eq!(robot.renamed(4).await.unwrap(), 5);
}

#[tokio::test]
async fn typed_error_arrives_intact_with_its_code() {
    let (_room, _server, _serving, robot) = setup().await;
    let err = robot.move_arm(1, 120.0).await.unwrap_err();
    assert_eq!(
        err,
        CallError::Application(ArmError::OutOfReach {
            joint: 1,
            limit: 90.0
        })
    );
    // The same error seen by a plain caller: code, Display message and JSON data.
    let raw = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: RobotClient::MOVE_ARM.into(),
            payload: r#"{"joint":1,"angle":120}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(raw.code, 4001);
    assert_eq!(raw.message, "joint 1 cannot go beyond 90");
    assert_eq!(
        raw.data.as_deref(),
        Some(r#"{"OutOfReach":{"joint":1,"limit":90.0}}"#)
    );
}

#[tokio::test]
async fn error_without_display_or_code_uses_application_error() {
    let (_room, _server, _serving, robot) = setup().await;
    assert_eq!(
        robot.plain_fail().await.unwrap_err(),
        CallError::Application(Plain("nope".into()))
    );
    let raw = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: "robot.plain_fail".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (raw.code, raw.message.as_str()),
        (1500, "Application error in method handler")
    );
}

#[tokio::test]
async fn hand_written_json_calls_a_typed_method() {
    let (_room, _server, _serving, robot) = setup().await;
    let call = |method: &str, payload: &str| PerformRpcData {
        destination_identity: "arm".into(),
        method: method.into(),
        payload: payload.into(),
        ..Default::default()
    };
    let p = robot.endpoint();
    // As a JavaScript caller writes it: keys in any order, unknown keys ignored.
    let reply = p
        .perform_rpc(call(
            "robot.move_arm",
            r#"{"angle": 10.5, "joint": 3, "extra": true}"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Pose>(&reply).unwrap(),
        Pose {
            joint: 3,
            angle: 10.5
        }
    );
    // No arguments: empty payload or {}; `()` comes back as the empty payload.
    assert_eq!(p.perform_rpc(call("robot.ping", "")).await.unwrap(), "");
    assert_eq!(p.perform_rpc(call("robot.ping", "{}")).await.unwrap(), "");
    // Option arguments may be absent; serde renames are the wire names.
    assert_eq!(
        p.perform_rpc(call("robot.greet", r#"{"name":"Bo"}"#))
            .await
            .unwrap(),
        r#""Hello, Bo""#
    );
    assert_eq!(
        p.perform_rpc(call("robot.renamed", r#"{"jointId":1}"#))
            .await
            .unwrap(),
        "2"
    );
    // Raw methods take and give the payload untouched.
    assert_eq!(
        p.perform_rpc(call("legacy-echo", "plain text"))
            .await
            .unwrap(),
        "plain text"
    );
}

#[tokio::test]
async fn undecodable_arguments_name_the_method_and_parameter() {
    let (_room, _server, _serving, robot) = setup().await;
    let err = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: "robot.move_arm".into(),
            payload: r#"{"joint": 300, "angle": 1}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, 1500);
    let data = err.data.unwrap();
    assert!(
        data.contains("\"robot.move_arm\"") && data.contains("parameter `joint`"),
        "{data}"
    );
    let err = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: "robot.move_arm".into(),
            payload: r#"{"angle": 1}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.data.unwrap().contains("missing field `joint`"));
    let err = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: "robot.move_arm".into(),
            payload: "not json".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err
        .data
        .unwrap()
        .starts_with("invalid arguments for \"robot.move_arm\""));
}

/// Arguments are one JSON object: an array is not bound by position (that would break
/// callers when parameters are reordered), and a bare value is not a single argument.
#[tokio::test]
async fn arguments_that_are_not_a_json_object_are_refused_naming_the_keys() {
    let (_room, _server, _serving, robot) = setup().await;
    for (payload, shape) in [
        ("[2, 41.5]", "a JSON array"),
        ("\"x\"", "a JSON string"),
        ("42", "a JSON number"),
        ("null", "JSON null"),
    ] {
        let err = robot
            .endpoint()
            .perform_rpc(PerformRpcData {
                destination_identity: "arm".into(),
                method: "robot.move_arm".into(),
                payload: payload.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, 1500);
        assert_eq!(
            err.data.unwrap(),
            format!("invalid arguments for \"robot.move_arm\": expected a JSON object with keys \"joint\", \"angle\", got {shape}")
        );
    }
    // A renamed parameter is named as it travels; a method without arguments says so.
    let err = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: "robot.renamed".into(),
            payload: "[1]".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.data.unwrap().contains("keys \"jointId\""));
    let err = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: "robot.count".into(),
            payload: "[]".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err
        .data
        .unwrap()
        .contains("expected an empty payload or {}"));
}

/// A plain string handler, as an existing JavaScript or Rust app serves it.
#[livekit_rpc]
trait Legacy {
    /// The existing method.
    #[rpc(name = "getUserLocation", raw)]
    async fn get_user_location(&self, request: String) -> String;
    /// A typed method whose result the server sends in the wrong shape.
    #[rpc(name = "badShape")]
    async fn bad_shape(&self) -> Pose;
}

#[tokio::test]
async fn typed_client_calls_a_plain_string_handler_through_raw() {
    let room = MemoryRoom::new();
    let js_like = room
        .join_with("browser", JoinOptions::default())
        .await
        .unwrap();
    js_like
        .register_rpc_method("getUserLocation", |d: RpcInvocationData| async move {
            Ok(format!("{{\"lat\":1,\"for\":\"{}\"}}", d.payload))
        })
        .unwrap();
    js_like
        .register_rpc_method("badShape", |_d| async { Ok("[1,2,3]".to_string()) })
        .unwrap();
    let agent = room.join("agent").await.unwrap();
    let client = LegacyClient::new(agent, "browser");
    assert_eq!(
        client.get_user_location("high".into()).await.unwrap(),
        r#"{"lat":1,"for":"high"}"#
    );
    let err = client.bad_shape().await.unwrap_err();
    let rpc = err.as_rpc().unwrap();
    assert!(
        rpc.data
            .as_deref()
            .unwrap()
            .contains("response of \"badShape\" is not a valid"),
        "{rpc:?}"
    );
}

#[tokio::test]
async fn unknown_method_is_unsupported_method() {
    let room = MemoryRoom::new();
    let _empty = room.join("arm").await.unwrap();
    let robot = RobotClient::new(room.join("op").await.unwrap(), "arm");
    let err = robot.ping().await.unwrap_err();
    assert_eq!(
        err.as_rpc().map(|e| e.code),
        Some(RpcErrorCode::UnsupportedMethod as u32)
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_per_client_and_per_call() {
    let (_room, _server, _serving, robot) = setup().await;
    assert_eq!(robot.timeout(), Duration::from_secs(15));
    let quick = robot.with_timeout(Duration::from_millis(100));
    let err = quick.slow(1_000).await.unwrap_err();
    assert_eq!(err.as_rpc().map(|e| e.code), Some(1502));
    assert_eq!(
        robot
            .with_timeout(Duration::from_secs(5))
            .slow(1_000)
            .await
            .unwrap(),
        1_000
    );
    assert_eq!(robot.slow(10).await.unwrap(), 10);
}

#[tokio::test]
async fn handler_panic_is_an_rpc_error_and_serving_continues() {
    let (_room, _server, _serving, robot) = setup().await;
    let err = robot.explode().await.unwrap_err();
    let rpc = err.as_rpc().unwrap();
    assert_eq!(rpc.code, 1500);
    assert!(rpc.data.as_deref().unwrap().contains("arm exploded"));
    assert_eq!(robot.count().await.unwrap(), 1);
}

#[tokio::test]
async fn serving_guard_unregisters_on_drop_and_stop() {
    let (_room, server, serving, robot) = setup().await;
    assert_eq!(serving.methods().len(), 11);
    assert!(
        server.serve(RobotServer::new(Arm::default())).is_err(),
        "methods are taken"
    );
    drop(serving);
    assert_eq!(robot.ping().await.unwrap_err().as_rpc().unwrap().code, 1400);
    let serving = server.serve(RobotServer::new(Arm::default())).unwrap();
    robot.ping().await.unwrap();
    serving.stop();
    assert_eq!(robot.ping().await.unwrap_err().as_rpc().unwrap().code, 1400);
}

#[tokio::test]
async fn wire_names_are_constants() {
    assert_eq!(RobotClient::MOVE_ARM, "robot.move_arm");
    assert_eq!(RobotServer::ECHO, "legacy-echo");
    assert_eq!(LegacyClient::GET_USER_LOCATION, "getUserLocation");
    use livekit_typed_rpc::Service;
    assert_eq!(<RobotServer<Arm> as Service>::METHODS.len(), 11);
}

#[tokio::test]
async fn multi_megabyte_result_goes_over_rpc_v2() {
    let (room, _server, _serving, robot) = setup().await;
    let rec = room.record_packets();
    let snapshot = robot.snapshot(3_000_000).await.unwrap();
    assert_eq!(snapshot.len(), 3_000_000);
    assert!(rec.take().iter().any(|p| matches!(
        &p.packet.value,
        Some(livekit_typed_rpc::proto::data_packet::Value::StreamHeader(h)) if h.topic == "lk.rpc_response"
    )));
}

#[tokio::test]
async fn context_is_not_on_the_wire() {
    let (_room, _server, _serving, robot) = setup().await;
    let reply = robot
        .endpoint()
        .perform_rpc(PerformRpcData {
            destination_identity: "arm".into(),
            method: "robot.whoami".into(),
            response_timeout: Duration::from_secs(20),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply, r#""operator 20000""#);
}

#[tokio::test]
async fn rpc_error_in_typed_error_slot_is_not_mistaken() {
    // A transport error whose data happens to be JSON never becomes Application.
    let e: CallError<serde_json::Value> = livekit_typed_rpc::__private::decode_error(
        RpcError::built_in(RpcErrorCode::ResponseTimeout, Some("{\"a\":1}".into())),
    );
    assert!(matches!(e, CallError::Rpc(_)));
}
