//! LiveKit's Python SDK (PyPI `livekit` 1.2, its core LiveKit's Rust SDK) and a Rust typed
//! service through a real livekit-server, in a network namespace of the test's own (the
//! SDK's libwebrtc ignores loopback). The Python side uses the module this project
//! generates from the `Robot` trait (`tests/contract/robot_rpc.py`), which `mypy --strict`
//! also checks here, with lines that must fail.

#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

use std::process::Command;
use std::time::Duration;

use livekit_typed_rpc::{sfu, CallError, JoinOptions, Participant, PerformRpcData};
use livekit_typed_rpc_sfu_tests::sdk::{self, contract_dir, python, Sdk, SdkPeer};
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
fn python_sdk_calls_and_serves_rust_through_the_server() {
    sdk::install(Sdk::Python);
    if !private_network::enter("python_sdk_calls_and_serves_rust_through_the_server") {
        return;
    }
    let rt = runtime();
    let server = LiveKitServer::start_private();
    let robot = join_rust(&rt, &server, "py", "rust-robot");
    let _serving = robot.serve(RobotServer::new(Arm)).unwrap();

    let mut py = SdkPeer::start(Sdk::Python, &server);
    py.join(&server, "py", "py-agent");
    py.ok(json!({"cmd": "serve"}), WAIT);
    py.ok(json!({"cmd": "wait_for", "identity": "rust-robot"}), WAIT);
    rt.block_on(robot.wait_for_participant("py-agent", WAIT))
        .expect("the Python participant is seen");

    // Python -> Rust through the generated client.
    let pose = py.ok(
        json!({"cmd": "call", "dest": "rust-robot", "method": "move_arm", "args": {"joint": 2, "angle": 41.5}}),
        WAIT,
    );
    assert_eq!(pose, json!({"joint": 2, "angle": 41.5}));
    let refused = py.send(
        json!({"cmd": "call", "dest": "rust-robot", "method": "move_arm", "args": {"joint": 3, "angle": 120.0}}),
        WAIT,
    );
    assert_eq!(refused["code"], 4001, "{refused}");
    assert_eq!(refused["app_error_type"], "ArmErrorOutOfReach", "{refused}");
    assert_eq!(
        refused["app_error"],
        json!({"OutOfReach": {"joint": 3, "max_angle": 90.0}})
    );
    let snapshot = py.ok(
        json!({"cmd": "call", "dest": "rust-robot", "method": "snapshot", "args": {"size": SNAPSHOT_BYTES}}),
        WAIT,
    );
    assert_eq!(snapshot, json!({"len": SNAPSHOT_BYTES, "pattern_ok": true}));
    let who = py.ok(
        json!({"cmd": "call", "dest": "rust-robot", "method": "whoami"}),
        WAIT,
    );
    assert!(
        who.as_str().unwrap_or_default().contains("\"py-agent\""),
        "{who}"
    );
    let unit = py.ok(
        json!({"cmd": "call", "dest": "rust-robot", "method": "calibrate", "args": {"millis": 5}}),
        WAIT,
    );
    assert_eq!(unit, Value::Null);

    // Rust -> Python through the generated handlers.
    let client = RobotClient::new(robot.clone(), "py-agent");
    let pose = rt.block_on(client.move_arm(4, 12.5)).unwrap();
    assert_eq!((pose.joint, pose.angle), (4, 12.5));
    match rt.block_on(client.move_arm(5, 95.0)) {
        Err(CallError::Application(ArmError::OutOfReach { joint, max_angle })) => {
            assert_eq!((joint, max_angle), (5, 90.0))
        }
        other => panic!("expected the typed error from Python, got {other:?}"),
    }
    let bytes = rt.block_on(client.snapshot(SNAPSHOT_BYTES)).unwrap();
    assert_eq!(bytes.len(), SNAPSHOT_BYTES as usize);
    assert!(bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| b as usize == i * 7 % 251));
    let who = rt.block_on(client.whoami()).unwrap();
    assert_eq!(who, "python sees rust-robot");
    rt.block_on(client.calibrate(5)).unwrap();

    // Bad input from the Python SDK: a clear error naming the method and the parameter;
    // the Rust side carries on.
    let raw = |py: &mut SdkPeer, method: &str, payload: &str| {
        py.send(
            json!({"cmd": "raw", "dest": "rust-robot", "method": method, "payload": payload}),
            WAIT,
        )
    };
    let array = raw(&mut py, "robot.move_arm", "[2, 41.5]");
    assert_eq!(array["code"], 1500, "{array}");
    let data = array["data"].as_str().unwrap_or_default();
    assert!(
        data.contains("robot.move_arm") && data.contains("a JSON object with keys"),
        "{array}"
    );
    let wrong_type = raw(
        &mut py,
        "robot.move_arm",
        r#"{"joint": "two", "angle": 1.0}"#,
    );
    let data = wrong_type["data"].as_str().unwrap_or_default();
    assert!(
        data.contains("robot.move_arm") && data.contains("`joint`"),
        "{wrong_type}"
    );
    let missing = raw(&mut py, "robot.move_arm", r#"{"angle": 1.0}"#);
    let data = missing["data"].as_str().unwrap_or_default();
    assert!(
        data.contains("robot.move_arm") && data.contains("joint"),
        "{missing}"
    );
    let unknown = raw(&mut py, "robot.fly", "{}");
    assert_eq!(unknown["code"], 1400, "unsupported method: {unknown}");
    let after = py.ok(
        json!({"cmd": "call", "dest": "rust-robot", "method": "move_arm", "args": {"joint": 1, "angle": 1.0}}),
        WAIT,
    );
    assert_eq!(after, json!({"joint": 1, "angle": 1.0}));

    // And the same mistakes made by a Rust caller against the Python handlers.
    let rust_raw = |method: &str, payload: &str| {
        rt.block_on(robot.perform_rpc(PerformRpcData {
            destination_identity: "py-agent".into(),
            method: method.into(),
            payload: payload.into(),
            ..Default::default()
        }))
        .expect_err("bad input is refused")
    };
    let error = rust_raw("robot.move_arm", "[2, 41.5]");
    let data = error.data.clone().unwrap_or_default();
    assert!(
        data.contains("robot.move_arm") && data.contains("a JSON object"),
        "{error:?}"
    );
    let error = rust_raw("robot.move_arm", r#"{"joint": "two", "angle": 1.0}"#);
    assert!(
        error.data.unwrap_or_default().contains("`joint`"),
        "names the parameter"
    );
    let error = rust_raw("robot.move_arm", r#"{"joint": 300, "angle": 1.0}"#);
    assert!(
        error.data.unwrap_or_default().contains("`joint`"),
        "a u8 is checked"
    );

    py.ok(json!({"cmd": "leave"}), WAIT);
    rt.block_on(robot.leave());
}

/// `mypy --strict` accepts the generated modules and a usage file, and refuses the usage
/// file's lines marked `# type: ignore[...]` (`--warn-unused-ignores`, part of `--strict`,
/// makes a marked line that type-checks an error).
#[test]
fn generated_python_passes_mypy_strict() {
    let usage = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/contract_usage.py");
    let output = Command::new(python())
        .args(["-m", "mypy", "--strict", "--no-incremental"])
        .arg(contract_dir().join("robot_rpc.py"))
        .arg(contract_dir().join("geo_rpc.py"))
        .arg(contract_dir().join("torture_rpc.py"))
        .arg(&usage)
        .env("MYPYPATH", contract_dir())
        .output()
        .expect("run mypy");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "mypy --strict failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let marked = std::fs::read_to_string(&usage)
        .expect("read the usage file")
        .matches("# type: ignore[")
        .count();
    assert!(
        marked >= 6,
        "the usage file keeps its must-fail lines ({marked})"
    );
}
