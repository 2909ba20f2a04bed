//! LiveKit's Node SDK (npm `@livekit/rtc-node` 1.1, its core LiveKit's Rust SDK) and a Rust
//! typed service through a real livekit-server, in a network namespace of the test's own
//! (the SDK's libwebrtc ignores loopback). rtc-node calls and serves with raw JSON payloads
//! written to the `Robot` contract (`node/peer.mjs`).

#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

use std::time::Duration;

use livekit_typed_rpc::{sfu, CallError, JoinOptions, Participant};
use livekit_typed_rpc_sfu_tests::sdk::{self, Sdk, SdkPeer};
use livekit_typed_rpc_sfu_tests::{private_network, LiveKitServer};
use quickstart::{Arm, ArmError, RobotClient, RobotServer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
/// 1.5 million bytes as a JSON array of numbers: about 5 MB on the wire, so RPC v2.
const SNAPSHOT_BYTES: u32 = 1_500_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn join_rust(
    rt: &tokio::runtime::Runtime,
    server: &LiveKitServer,
    room: &str,
    id: &str,
) -> Participant {
    rt.block_on(sfu::connect(
        server.url(),
        &server.token(room, id),
        JoinOptions::default(),
    ))
    .unwrap_or_else(|e| panic!("{id} joins {room}: {e}"))
}

#[test]
fn node_sdk_calls_and_serves_rust_through_the_server() {
    sdk::install(Sdk::Node);
    if !private_network::enter("node_sdk_calls_and_serves_rust_through_the_server") {
        return;
    }
    let rt = runtime();
    let server = LiveKitServer::start_private();
    let robot = join_rust(&rt, &server, "node", "rust-robot");
    let _serving = robot.serve(RobotServer::new(Arm)).unwrap();

    let mut node = SdkPeer::start(Sdk::Node, &server);
    node.join(&server, "node", "node-service");
    node.ok(json!({"cmd": "serve"}), WAIT);
    node.ok(json!({"cmd": "wait_for", "identity": "rust-robot"}), WAIT);
    rt.block_on(robot.wait_for_participant("node-service", WAIT))
        .expect("the Node participant is seen");

    let raw = |node: &mut SdkPeer, method: &str, payload: &str| {
        node.send(
            json!({"cmd": "raw", "dest": "rust-robot", "method": method, "payload": payload}),
            WAIT,
        )
    };
    let decoded = |answer: &Value| -> Value {
        assert_eq!(answer["ok"], true, "{answer}");
        serde_json::from_str(answer["value"].as_str().unwrap_or_default()).expect("JSON result")
    };

    // Node -> Rust.
    let pose = raw(
        &mut node,
        "robot.move_arm",
        r#"{"joint": 2, "angle": 41.5}"#,
    );
    assert_eq!(decoded(&pose), json!({"joint": 2, "angle": 41.5}));
    let refused = raw(&mut node, "robot.move_arm", r#"{"joint": 3, "angle": 120}"#);
    assert_eq!(refused["code"], 4001, "{refused}");
    let reason: Value = serde_json::from_str(refused["data"].as_str().unwrap_or_default())
        .expect("the typed error travels as JSON in data");
    assert_eq!(
        reason,
        json!({"OutOfReach": {"joint": 3, "max_angle": 90.0}})
    );
    let snapshot = raw(
        &mut node,
        "robot.snapshot",
        &format!(r#"{{"size": {SNAPSHOT_BYTES}}}"#),
    );
    let bytes = decoded(&snapshot);
    let bytes = bytes.as_array().expect("an array of numbers");
    assert_eq!(bytes.len(), SNAPSHOT_BYTES as usize);
    assert!(bytes
        .iter()
        .enumerate()
        .all(|(i, b)| b.as_u64() == Some((i * 7 % 251) as u64)));
    let who = decoded(&raw(&mut node, "robot.whoami", ""));
    assert!(
        who.as_str()
            .unwrap_or_default()
            .contains("\"node-service\""),
        "{who}"
    );

    // Rust -> Node.
    let client = RobotClient::new(robot.clone(), "node-service");
    let pose = rt.block_on(client.move_arm(4, 12.5)).unwrap();
    assert_eq!((pose.joint, pose.angle), (4, 12.5));
    match rt.block_on(client.move_arm(5, 95.0)) {
        Err(CallError::Application(ArmError::OutOfReach { joint, max_angle })) => {
            assert_eq!((joint, max_angle), (5, 90.0))
        }
        other => panic!("expected the typed error from Node, got {other:?}"),
    }
    let bytes = rt.block_on(client.snapshot(SNAPSHOT_BYTES)).unwrap();
    assert_eq!(bytes.len(), SNAPSHOT_BYTES as usize);
    assert!(bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| b as usize == i * 7 % 251));
    assert_eq!(
        rt.block_on(client.whoami()).unwrap(),
        "node sees rust-robot"
    );
    rt.block_on(client.calibrate(5)).unwrap();

    // Bad input from rtc-node: clear errors naming the method and the parameter.
    let array = raw(&mut node, "robot.move_arm", "[2, 41.5]");
    let data = array["data"].as_str().unwrap_or_default();
    assert!(
        data.contains("robot.move_arm") && data.contains("a JSON object with keys"),
        "{array}"
    );
    let wrong_type = raw(&mut node, "robot.move_arm", r#"{"joint": -1, "angle": 1}"#);
    let data = wrong_type["data"].as_str().unwrap_or_default();
    assert!(data.contains("`joint`"), "{wrong_type}");
    let unknown = raw(&mut node, "robot.fly", "{}");
    assert_eq!(unknown["code"], 1400, "{unknown}");
    assert_eq!(
        decoded(&raw(
            &mut node,
            "robot.move_arm",
            r#"{"joint": 1, "angle": 1}"#
        )),
        json!({"joint": 1, "angle": 1.0})
    );

    node.ok(json!({"cmd": "leave"}), WAIT);
    rt.block_on(robot.leave());
}
