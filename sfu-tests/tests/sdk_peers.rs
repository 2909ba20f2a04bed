//! LiveKit's own SDKs call a Rust typed service and serve methods a Rust client calls,
//! through a real livekit-server, in a network namespace of each test's own (their
//! libwebrtc ignores loopback):
//!
//! - the browser: npm `livekit-client` 2.23.0 in Debian's headless Chromium, through the
//!   generated TypeScript module (`tests/contract/robot.ts`, checked by `tsc --strict`);
//! - Python: PyPI `livekit` 1.2.1 (its core is LiveKit's Rust SDK), through the generated
//!   Python module (`tests/contract/robot_rpc.py`, checked by `mypy --strict` here too);
//! - Node: npm `@livekit/rtc-node` 1.1.0 (the same core), with raw JSON payloads.
//!
//! Each covers a small typed call, a typed error, a 5 MB result over RPC v2, unit and the
//! caller identity in both directions, and bad input (an array, a wrong type, a missing
//! field, an unknown method) answered with an error naming the method and the parameter,
//! by the Rust service and by the generated handlers.

#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

use std::process::Command;
use std::time::Duration;

use livekit_typed_rpc::{sfu, CallError, JoinOptions, Participant, PerformRpcData, Serving};
use livekit_typed_rpc_sfu_tests::sdk::{self, contract_dir, python, Sdk, SdkPeer};
use livekit_typed_rpc_sfu_tests::{private_network, LiveKitServer};
use quickstart::{Arm, ArmError, RobotClient, RobotServer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
/// 1.5 million bytes as a JSON array of numbers: about 5 MB on the wire, so RPC v2.
const SNAPSHOT_BYTES: u32 = 1_500_000;

/// A Rust participant serving `Robot` and an SDK peer serving it too, in one room on a
/// server of the test's private network.
struct World {
    rt: tokio::runtime::Runtime,
    _server: LiveKitServer,
    robot: Participant,
    _serving: Serving,
    peer: SdkPeer,
    peer_identity: &'static str,
}

impl World {
    fn new(sdk: Sdk, peer_identity: &'static str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let server = LiveKitServer::start_private();
        let robot = rt
            .block_on(sfu::connect(
                server.url(),
                &server.token("sdk", "rust-robot"),
                JoinOptions::default(),
            ))
            .unwrap_or_else(|e| panic!("rust-robot joins: {e}"));
        let serving = robot.serve(RobotServer::new(Arm)).unwrap();
        let mut peer = SdkPeer::start(sdk, &server);
        peer.join(&server, "sdk", peer_identity);
        peer.ok(json!({"cmd": "serve"}), WAIT);
        // The server describes participants without tracks up to 3 s late, and the SDKs
        // choose RPC v2 only for a peer they know speaks it: both wait to see each other.
        peer.ok(json!({"cmd": "wait_for", "identity": "rust-robot"}), WAIT);
        rt.block_on(robot.wait_for_participant(peer_identity, WAIT))
            .expect("the SDK participant is seen");
        Self {
            rt,
            _server: server,
            robot,
            _serving: serving,
            peer,
            peer_identity,
        }
    }

    fn typed_call(&mut self, method: &str, args: Value) -> Value {
        self.peer.send(
            json!({"cmd": "call", "dest": "rust-robot", "method": method, "args": args}),
            WAIT,
        )
    }

    fn raw_call(&mut self, method: &str, payload: &str) -> Value {
        self.peer.send(
            json!({"cmd": "raw", "dest": "rust-robot", "method": method, "payload": payload}),
            WAIT,
        )
    }

    /// A Rust client calls the SDK's handlers: typed arguments, results and errors.
    fn rust_calls_the_sdk(&self, greeting: &str) {
        let client = RobotClient::new(self.robot.clone(), self.peer_identity);
        let pose = self.rt.block_on(client.move_arm(4, 12.5)).unwrap();
        assert_eq!((pose.joint, pose.angle), (4, 12.5));
        match self.rt.block_on(client.move_arm(5, 95.0)) {
            Err(CallError::Application(ArmError::OutOfReach { joint, max_angle })) => {
                assert_eq!((joint, max_angle), (5, 90.0))
            }
            other => panic!("expected the SDK's typed error, got {other:?}"),
        }
        let bytes = self.rt.block_on(client.snapshot(SNAPSHOT_BYTES)).unwrap();
        assert_eq!(bytes.len(), SNAPSHOT_BYTES as usize);
        assert!(bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b as usize == i * 7 % 251));
        assert_eq!(
            self.rt.block_on(client.whoami()).unwrap(),
            format!("{greeting} rust-robot")
        );
        self.rt.block_on(client.calibrate(5)).unwrap();
    }

    /// Waits until the Rust participant holds no stream, call, handler or queued call.
    fn rust_settles(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let idle = livekit_typed_rpc::Diagnostics::default();
        while self.robot.diagnostics() != idle {
            assert!(
                std::time::Instant::now() < deadline,
                "rust-robot still holds {:?}",
                self.robot.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Streams and cancellation through the server, with the SDK's generated module on one
    /// side and Rust on the other, both ways.
    fn streams_and_cancels_both_ways(&mut self) {
        let dest = "rust-robot";
        // The SDK consumes a whole Rust stream, then leaves one early: the Rust producer
        // of 1000 readings 10 ms apart is gone at once.
        let all = self.peer.ok(
            json!({"cmd": "watch", "dest": dest, "joint": 2, "every_ms": 1, "count": 40}),
            WAIT,
        );
        assert_eq!(all["seqs"], json!((0..40).collect::<Vec<_>>()), "{all}");
        assert_eq!(all["end"], "completed", "{all}");
        let early = self.peer.ok(
            json!({"cmd": "watch", "dest": dest, "joint": 2, "every_ms": 10, "count": 1000, "take": 5}),
            WAIT,
        );
        assert_eq!(early["seqs"], json!([0, 1, 2, 3, 4]), "{early}");
        assert_eq!(early["end"], "cancelled", "{early}");
        self.rust_settles();
        let refused = self.peer.send(
            json!({"cmd": "watch", "dest": dest, "joint": 9, "every_ms": 1, "count": 1}),
            WAIT,
        );
        assert_eq!(refused["code"], 4004, "{refused}");
        assert_eq!(
            refused["app_error"],
            json!({"NoSuchJoint": {"joint": 9}}),
            "{refused}"
        );
        // A cancellable call the SDK gives up on is cancelled at the Rust side.
        let cancelled = self.peer.ok(
            json!({"cmd": "calibrate_cancel", "dest": dest, "millis": 10_000, "after_ms": 200}),
            WAIT,
        );
        assert_eq!(cancelled["cancelled"], true, "{cancelled}");
        self.rust_settles();
        // A plain call of a streaming method: 1404 at once.
        let plain = self.raw_call(
            "robot.watch_joint",
            r#"{"joint":2,"every_ms":10,"count":3}"#,
        );
        assert_eq!(plain["code"], 1404, "{plain}");

        // Rust consumes the SDK's stream, then cancels one and a cancellable call.
        let client = RobotClient::new(self.robot.clone(), self.peer_identity);
        let readings = self
            .rt
            .block_on(async {
                client
                    .watch_joint(1, 1, 30)
                    .await
                    .unwrap()
                    .collect_all()
                    .await
            })
            .unwrap();
        assert_eq!(readings.len(), 30);
        assert!(readings
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq as usize == i));
        match self.rt.block_on(client.watch_joint(9, 1, 1)) {
            Err(CallError::Application(ArmError::NoSuchJoint { joint: 9 })) => {}
            other => panic!("expected the SDK's typed open error, got {other:?}"),
        }
        self.rt.block_on(async {
            let mut live = client.watch_joint(2, 10, 1000).await.unwrap();
            for expected in 0..5 {
                assert_eq!(live.next().await.unwrap().unwrap().seq, expected);
            }
            drop(live);
            let call = client.calibrate(10_000);
            assert!(tokio::time::timeout(Duration::from_millis(300), call)
                .await
                .is_err());
        });
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let stops = self.peer.ok(json!({"cmd": "stops"}), WAIT);
            let seen: Vec<&str> = stops
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if seen.contains(&"watch:cancel") && seen.contains(&"calibrate:cancel") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the SDK's handlers saw no cancel: {stops}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.rust_settles();
    }

    /// Bad input the SDK sends: errors that name the method and the parameter, and the
    /// Rust side carries on.
    fn sdk_sends_bad_input(&mut self) {
        let array = self.raw_call("robot.move_arm", "[2, 41.5]");
        assert_eq!(array["code"], 1500, "{array}");
        let data = array["data"].as_str().unwrap_or_default();
        assert!(
            data.contains("robot.move_arm") && data.contains("a JSON object with keys"),
            "{array}"
        );
        let wrong_type = self.raw_call("robot.move_arm", r#"{"joint": "two", "angle": 1.0}"#);
        let data = wrong_type["data"].as_str().unwrap_or_default();
        assert!(
            data.contains("robot.move_arm") && data.contains("`joint`"),
            "{wrong_type}"
        );
        let out_of_range = self.raw_call("robot.move_arm", r#"{"joint": -1, "angle": 1.0}"#);
        assert!(
            out_of_range["data"]
                .as_str()
                .unwrap_or_default()
                .contains("`joint`"),
            "{out_of_range}"
        );
        let missing = self.raw_call("robot.move_arm", r#"{"angle": 1.0}"#);
        let data = missing["data"].as_str().unwrap_or_default();
        assert!(
            data.contains("robot.move_arm") && data.contains("joint"),
            "{missing}"
        );
        let unknown = self.raw_call("robot.fly", "{}");
        assert_eq!(unknown["code"], 1400, "unsupported method: {unknown}");
        let after = self.raw_call("robot.move_arm", r#"{"joint": 1, "angle": 1.0}"#);
        assert_eq!(decoded(&after), json!({"joint": 1, "angle": 1.0}));
    }

    /// The same mistakes made by a Rust caller against the SDK's generated handlers (the
    /// Python module validates with pydantic, the TypeScript module checks each parameter's
    /// presence, JSON type and integer range); rtc-node has no generated module.
    fn rust_sends_bad_input(&self) {
        let refused = |payload: &str| {
            self.rt
                .block_on(self.robot.perform_rpc(PerformRpcData {
                    destination_identity: self.peer_identity.into(),
                    method: "robot.move_arm".into(),
                    payload: payload.into(),
                    ..Default::default()
                }))
                .expect_err("bad input is refused")
                .data
                .unwrap_or_default()
        };
        let data = refused("[2, 41.5]");
        assert!(
            data.contains("robot.move_arm") && data.contains("JSON object"),
            "{data}"
        );
        let data = refused(r#"{"joint": "two", "angle": 1.0}"#);
        assert!(data.contains("`joint`"), "names the parameter: {data}");
        let data = refused(r#"{"joint": 300, "angle": 1.0}"#);
        assert!(data.contains("`joint`"), "a u8 is range-checked: {data}");
        let data = refused(r#"{"angle": 1.0}"#);
        assert!(data.contains("`joint`"), "a missing parameter: {data}");
    }

    /// After all of it (bad input included), the Rust side holds nothing: no call waiting,
    /// no stream half-read, no handler running or queued.
    fn leave(mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let d = self.robot.diagnostics();
            let idle = d.pending_calls == 0
                && d.open_incoming_streams == 0
                && d.running_handlers == 0
                && d.queued_calls == 0;
            if idle {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the Rust participant still holds work: {d:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.peer.ok(json!({"cmd": "leave"}), WAIT);
        self.rt.block_on(self.robot.leave());
    }
}

fn decoded(answer: &Value) -> Value {
    assert_eq!(answer["ok"], true, "{answer}");
    serde_json::from_str(answer["value"].as_str().unwrap_or_default()).expect("a JSON result")
}

/// The SDK calls Rust through the generated client (Python, TypeScript).
fn generated_client_calls_rust(world: &mut World, identity: &str) {
    let pose = world.typed_call("move_arm", json!({"joint": 2, "angle": 41.5}));
    assert_eq!(pose["value"], json!({"joint": 2, "angle": 41.5}), "{pose}");
    let refused = world.typed_call("move_arm", json!({"joint": 3, "angle": 120.0}));
    assert_eq!(refused["code"], 4001, "{refused}");
    // JavaScript writes 90.0 as 90: compare the numbers, not their spelling.
    let reason = &refused["app_error"]["OutOfReach"];
    assert_eq!(
        (reason["joint"].as_u64(), reason["max_angle"].as_f64()),
        (Some(3), Some(90.0)),
        "the typed error, decoded: {refused}"
    );
    let snapshot = world.typed_call("snapshot", json!({"size": SNAPSHOT_BYTES}));
    assert_eq!(
        snapshot["value"],
        json!({"len": SNAPSHOT_BYTES, "pattern_ok": true}),
        "{snapshot}"
    );
    let who = world.typed_call("whoami", json!({}));
    assert!(
        who["value"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("\"{identity}\"")),
        "{who}"
    );
    let unit = world.typed_call("calibrate", json!({"millis": 5}));
    assert_eq!(unit, json!({"ok": true, "value": null}));
}

#[test]
fn browser_livekit_client_calls_and_serves_rust_through_the_server() {
    sdk::install(Sdk::Browser);
    if !private_network::enter("browser_livekit_client_calls_and_serves_rust_through_the_server") {
        return;
    }
    let mut world = World::new(Sdk::Browser, "browser");
    generated_client_calls_rust(&mut world, "browser");
    world.rust_calls_the_sdk("browser sees");
    world.streams_and_cancels_both_ways();
    world.sdk_sends_bad_input();
    world.rust_sends_bad_input();
    world.leave();
}

#[test]
fn python_sdk_calls_and_serves_rust_through_the_server() {
    sdk::install(Sdk::Python);
    if !private_network::enter("python_sdk_calls_and_serves_rust_through_the_server") {
        return;
    }
    let mut world = World::new(Sdk::Python, "py-agent");
    generated_client_calls_rust(&mut world, "py-agent");
    let refused = world.typed_call("move_arm", json!({"joint": 3, "angle": 120.0}));
    assert_eq!(refused["app_error_type"], "ArmErrorOutOfReach", "{refused}");

    // The generated livekit-agents tools, run by the agents framework's own argument
    // handling against the Rust service.
    let tools = world
        .peer
        .ok(json!({"cmd": "agent_tools", "dest": "rust-robot"}), WAIT);
    assert_eq!(
        tools["loaded_at_import"], false,
        "livekit-agents is imported lazily"
    );
    assert_eq!(tools["raw"], true, "{tools}");
    let contract_tools: Value = serde_json::from_str(
        &std::fs::read_to_string(contract_dir().join("robot.openai-tools.json"))
            .expect("the committed OpenAI tools"),
    )
    .expect("JSON");
    for tool in contract_tools["tools"].as_array().expect("a tool list") {
        let name = tool["function"]["name"].as_str().unwrap_or_default();
        assert_eq!(
            tools["schemas"][name]["parameters"], tool["function"]["parameters"],
            "{name}: the raw schema is the contract's"
        );
    }
    let pose: Value = serde_json::from_str(tools["move_arm"]["ok"].as_str().unwrap_or_default())
        .expect("the tool returns the JSON result");
    assert_eq!(pose, json!({"joint": 2, "angle": 41.5}));
    let refused = tools["refused"]["tool_error"].as_str().unwrap_or_default();
    assert!(
        refused.contains("robot.move_arm") && refused.contains("OutOfReach"),
        "the LLM is told why: {refused}"
    );
    assert!(
        tools["whoami"]["ok"]
            .as_str()
            .unwrap_or_default()
            .contains("py-agent"),
        "{tools}"
    );
    world.rust_calls_the_sdk("python sees");
    world.streams_and_cancels_both_ways();
    world.sdk_sends_bad_input();
    world.rust_sends_bad_input();
    world.leave();
}

#[test]
fn node_sdk_calls_and_serves_rust_through_the_server() {
    sdk::install(Sdk::Node);
    if !private_network::enter("node_sdk_calls_and_serves_rust_through_the_server") {
        return;
    }
    let mut world = World::new(Sdk::Node, "node-service");
    // rtc-node has no generated module: raw JSON to the contract.
    let pose = world.raw_call("robot.move_arm", r#"{"joint": 2, "angle": 41.5}"#);
    assert_eq!(decoded(&pose), json!({"joint": 2, "angle": 41.5}));
    let refused = world.raw_call("robot.move_arm", r#"{"joint": 3, "angle": 120}"#);
    assert_eq!(refused["code"], 4001, "{refused}");
    let reason: Value = serde_json::from_str(refused["data"].as_str().unwrap_or_default())
        .expect("the typed error travels as JSON in data");
    assert_eq!(
        reason,
        json!({"OutOfReach": {"joint": 3, "max_angle": 90.0}})
    );
    let snapshot = decoded(&world.raw_call(
        "robot.snapshot",
        &format!(r#"{{"size": {SNAPSHOT_BYTES}}}"#),
    ));
    let bytes = snapshot.as_array().expect("an array of numbers");
    assert_eq!(bytes.len(), SNAPSHOT_BYTES as usize);
    assert!(bytes
        .iter()
        .enumerate()
        .all(|(i, b)| b.as_u64() == Some((i * 7 % 251) as u64)));
    let who = decoded(&world.raw_call("robot.whoami", ""));
    assert!(
        who.as_str()
            .unwrap_or_default()
            .contains("\"node-service\""),
        "{who}"
    );
    world.rust_calls_the_sdk("node sees");
    // rtc-node has no generated module: a plain caller of a streaming method gets 1404
    // at once, saying why.
    let plain = world.raw_call(
        "robot.watch_joint",
        r#"{"joint":2,"every_ms":10,"count":3}"#,
    );
    assert_eq!(plain["code"], 1404, "{plain}");
    let why: Value = serde_json::from_str(plain["data"].as_str().unwrap_or_default())
        .expect("the reason travels as JSON in data");
    assert_eq!(why["typed_rpc"]["kind"], "stream_required", "{plain}");
    world.sdk_sends_bad_input();
    world.leave();
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
        marked >= 9,
        "the usage file keeps its must-fail lines ({marked})"
    );
}
