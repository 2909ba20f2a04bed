//! Typed and raw calls between Rust participants through a real livekit-server: small and
//! 5 MB results (compressed and not), typed errors, the caller identity and kind the
//! server stamps, load, attributes, discovery and fan-out, streaming results and
//! cancellation.

use std::collections::HashMap;
use std::time::Duration;

use livekit_typed_rpc::streaming::{CancelReason, RpcStream, StreamEnd};
use livekit_typed_rpc::{
    livekit_rpc, sfu, CallError, CallerPolicy, Error, ErrorCode, JoinOptions, Participant,
    ParticipantKind, PerformRpcData, RpcContext, RpcErrorCode, RpcInvocationData, ServeOptions,
};
use livekit_typed_rpc_sfu_tests::LiveKitServer;
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub joint: u8,
    pub angle: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArmError {
    OutOfReach { max_angle: f32 },
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl ErrorCode for ArmError {
    const CODES: &'static [u32] = &[4001];
    fn error_code(&self) -> u32 {
        4001
    }
}

#[livekit_rpc(namespace = "robot")]
pub trait Robot {
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError>;
    async fn snapshot(&self, size: u32, text: bool) -> String;
    async fn whoami(&self, ctx: RpcContext) -> (String, String);
}

struct Arm;

impl Robot for Arm {
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError> {
        if angle > 90.0 {
            return Err(ArmError::OutOfReach { max_angle: 90.0 });
        }
        Ok(Pose { joint, angle })
    }

    async fn snapshot(&self, size: u32, text: bool) -> String {
        // `text`: compressible JSON-like text; otherwise digits that DEFLATE barely shrinks.
        let mut state = 0x2545_f491_u64;
        (0..size)
            .map(|i| {
                if text {
                    {
                        let pattern = b"{\"joint\":2,\"angle\":41.5},";
                        pattern[i as usize % pattern.len()] as char
                    }
                } else {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'0' + (state % 10) as u8)
                }
            })
            .collect()
    }

    async fn whoami(&self, ctx: RpcContext) -> (String, String) {
        (ctx.caller_identity, format!("{:?}", ctx.caller_kind))
    }
}

async fn join(server: &LiveKitServer, room: &str, identity: &str) -> Participant {
    join_with(server, room, identity, JoinOptions::default()).await
}

async fn join_with(
    server: &LiveKitServer,
    room: &str,
    identity: &str,
    options: JoinOptions,
) -> Participant {
    sfu::connect(server.url(), &server.token(room, identity), options)
        .await
        .unwrap_or_else(|e| panic!("{identity} joins {room}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_calls_small_large_and_a_typed_error() {
    let server = LiveKitServer::shared();
    let robot = join(&server, "typed", "robot-1").await;
    let _serving = robot.serve(RobotServer::new(Arm)).unwrap();
    for compression in [true, false] {
        let identity = format!("operator-{compression}");
        let operator = join_with(
            &server,
            "typed",
            &identity,
            JoinOptions {
                compression,
                ..Default::default()
            },
        )
        .await;
        assert!(operator
            .wait_for_participant("robot-1", WAIT)
            .await
            .is_some());
        let client = RobotClient::new(operator.clone(), "robot-1");

        let pose = client.move_arm(2, 41.5).await.expect("a small typed call");
        assert_eq!(
            pose,
            Pose {
                joint: 2,
                angle: 41.5
            }
        );

        match client.move_arm(2, 120.0).await {
            Err(CallError::Application(ArmError::OutOfReach { max_angle })) => {
                assert_eq!(max_angle, 90.0)
            }
            other => panic!("expected the typed error, got {other:?}"),
        }

        // 5 MB over RPC v2 data streams: compressible text, then nearly incompressible.
        for text in [true, false] {
            let big = client
                .snapshot(5_000_000, text)
                .await
                .expect("a 5 MB result");
            assert_eq!(big.len(), 5_000_000);
            assert_eq!(big, Arm.snapshot(5_000_000, text).await);
        }

        // The identity the handler sees is the one the server stamped from the token.
        let (caller, kind) = client.whoami().await.unwrap();
        assert_eq!(caller, identity);
        assert_eq!(kind, "Standard");
        operator.leave().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls() {
    let server = LiveKitServer::shared();
    let robot = join(&server, "load", "robot").await;
    let _serving = robot.serve(RobotServer::new(Arm)).unwrap();
    let operator = join(&server, "load", "operator").await;
    assert!(operator.wait_for_participant("robot", WAIT).await.is_some());
    let client = RobotClient::new(operator.clone(), "robot");
    let calls = (0..200u32).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { (i, client.move_arm((i % 7) as u8, (i % 90) as f32).await) })
    });
    for call in calls {
        let (i, result) = call.await.unwrap();
        let pose = result.unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(
            pose,
            Pose {
                joint: (i % 7) as u8,
                angle: (i % 90) as f32
            }
        );
    }
    assert_eq!(operator.diagnostics().pending_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_discovery_of_a_late_server_and_fan_out() {
    let server = LiveKitServer::shared();
    let caller = join(&server, "discovery", "caller").await;
    let watcher = join_with(
        &server,
        "discovery",
        "watcher",
        JoinOptions {
            attributes: HashMap::from([("zone".to_owned(), "a".to_owned())]),
            ..Default::default()
        },
    )
    .await;
    // Attributes set by one participant are seen by another, as the server relays them.
    let seen = caller
        .wait_for_remotes(WAIT, |remotes| {
            remotes
                .iter()
                .find(|r| r.identity == "watcher")
                .and_then(|r| r.attributes.get("zone").cloned())
        })
        .await;
    assert_eq!(seen.as_deref(), Some("a"));
    watcher
        .set_attributes(HashMap::from([("zone".to_owned(), "b".to_owned())]))
        .await
        .unwrap();
    let seen = caller
        .wait_for_remotes(WAIT, |remotes| {
            remotes
                .iter()
                .find(|r| {
                    r.identity == "watcher" && r.attributes.get("zone").is_some_and(|z| z == "b")
                })
                .map(|_| ())
        })
        .await;
    assert!(seen.is_some(), "the update reached the caller");

    // A server that joins after the caller started looking is discovered.
    let late = {
        let server_url = server.url().to_owned();
        let token = server.token("discovery", "robot-late");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let p = sfu::connect(&server_url, &token, JoinOptions::default())
                .await
                .unwrap();
            let serving = p.serve(RobotServer::new(Arm)).unwrap();
            (p, serving)
        })
    };
    let found = RobotClient::discover(&caller, WAIT)
        .await
        .expect("discovers the late server");
    let pose = found.move_arm(1, 10.0).await.unwrap();
    assert_eq!(pose.joint, 1);
    let _late = late.await.unwrap();

    // Fan-out over three servers.
    let mut others = Vec::new();
    for name in ["robot-a", "robot-b"] {
        let p = join(&server, "discovery", name).await;
        let serving = p.serve(RobotServer::new(Arm)).unwrap();
        others.push((p, serving));
    }
    let fan_out = RobotClient::fan_out(&caller);
    caller
        .wait_for_remotes(WAIT, |_| (fan_out.servers().len() == 3).then_some(()))
        .await
        .expect("three servers seen");
    let answers = fan_out.whoami().await;
    assert_eq!(answers.len(), 3);
    for (identity, answer) in answers {
        assert_eq!(answer.unwrap().0, "caller", "from {identity}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_admits_only_the_agent_kind_the_token_grants() {
    let server = LiveKitServer::shared();
    let robot = join(&server, "policy", "robot").await;
    let _serving = robot
        .serve_with(
            RobotServer::new(Arm),
            ServeOptions::default().allow(CallerPolicy::kind(ParticipantKind::Agent)),
        )
        .unwrap();
    let agent_token = server.token_with("policy", "agent-1", |t| t.with_kind("agent"));
    let agent = sfu::connect(server.url(), &agent_token, JoinOptions::default())
        .await
        .unwrap();
    // What the agent advertises does not matter: the kind is the token's.
    let human = join_with(
        &server,
        "policy",
        "human",
        JoinOptions {
            kind: ParticipantKind::Agent,
            ..Default::default()
        },
    )
    .await;
    for p in [&agent, &human] {
        assert!(p.wait_for_participant("robot", WAIT).await.is_some());
    }
    let (who, kind) = RobotClient::new(agent.clone(), "robot")
        .whoami()
        .await
        .unwrap();
    assert_eq!((who.as_str(), kind.as_str()), ("agent-1", "Agent"));
    match RobotClient::new(human.clone(), "robot").whoami().await {
        Err(CallError::Rpc(e)) => assert_eq!(e.code, RpcErrorCode::UnsupportedMethod as u32, "{e}"),
        other => panic!("a standard participant was let in: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_perform_rpc_string_call_and_a_peer_that_leaves() {
    let server = LiveKitServer::shared();
    let alice = join(&server, "raw", "alice").await;
    let bob = join(&server, "raw", "bob").await;
    alice
        .register_rpc_method("echo", |data: RpcInvocationData| async move {
            Ok(format!("{} from {}", data.payload, data.caller_identity))
        })
        .unwrap();
    alice
        .register_rpc_method("stall", |_: RpcInvocationData| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(String::new())
        })
        .unwrap();
    assert!(bob.wait_for_participant("alice", WAIT).await.is_some());
    let call = |method: &str| PerformRpcData {
        destination_identity: "alice".into(),
        method: method.into(),
        payload: "hi".into(),
        response_timeout: Duration::from_secs(20),
        ..Default::default()
    };
    assert_eq!(bob.perform_rpc(call("echo")).await.unwrap(), "hi from bob");

    // Alice leaves while handling a call: the caller learns it (1503), not a timeout.
    let pending = tokio::spawn({
        let bob = bob.clone();
        let call = call("stall");
        async move { bob.perform_rpc(call).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.leave().await;
    let error = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the call ends once the server reports alice gone")
        .unwrap()
        .unwrap_err();
    assert_eq!(
        error.code,
        RpcErrorCode::RecipientDisconnected as u32,
        "{error}"
    );
    assert!(bob.remote_participant("alice").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_without_the_metadata_grant_fail_saying_why() {
    let server = LiveKitServer::shared();
    let token = server.token_with("grants", "no-metadata", |t| {
        t.with_grants(livekit_api::access_token::VideoGrants {
            room_join: true,
            room: "grants".into(),
            can_update_own_metadata: Some(false),
            ..Default::default()
        })
    });
    let p = sfu::connect(server.url(), &token, JoinOptions::default())
        .await
        .unwrap();
    let error = p
        .set_attributes(HashMap::from([("k".to_owned(), "v".to_owned())]))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("canUpdateOwnMetadata"),
        "{error}"
    );
    assert!(matches!(error, Error::Room(_)), "{error:?}");
    assert!(p.attributes().is_empty(), "nothing changed");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub n: u64,
    pub joints: [f32; 6],
}

fn sample(n: u64) -> Sample {
    Sample {
        n,
        joints: [n as f32, 1.5, 2.5, 3.5, 4.5, 5.5],
    }
}

#[livekit_rpc(namespace = "telemetry")]
pub trait Telemetry {
    /// `count` samples as fast as the caller's window allows.
    async fn samples(&self, count: u64) -> Result<RpcStream<Sample, String>, String>;
    /// A sample every `every_ms`, until cancelled.
    async fn live(&self, every_ms: u64) -> Result<RpcStream<u64, String>, String>;
    /// Works for `ms`, unless its caller gives up.
    #[rpc(cancellable)]
    async fn long_job(&self, ms: u64, ctx: RpcContext) -> u64;
}

#[derive(Clone, Default)]
struct Probe {
    stopped: std::sync::Arc<std::sync::Mutex<Vec<CancelReason>>>,
}

impl Telemetry for Probe {
    async fn samples(&self, count: u64) -> Result<RpcStream<Sample, String>, String> {
        Ok(RpcStream::from_iter((0..count).map(sample)))
    }

    async fn live(&self, every_ms: u64) -> Result<RpcStream<u64, String>, String> {
        let stopped = self.stopped.clone();
        Ok(RpcStream::spawn(move |sink| async move {
            let mut n = 0;
            loop {
                if sink.send(n).await.is_err() {
                    let reason = sink.cancelled().await;
                    stopped.lock().unwrap().push(reason);
                    return Ok(());
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(every_ms)).await;
            }
        }))
    }

    async fn long_job(&self, ms: u64, ctx: RpcContext) -> u64 {
        tokio::select! {
            reason = ctx.cancelled() => {
                self.stopped.lock().unwrap().push(reason);
                0
            }
            _ = tokio::time::sleep(Duration::from_millis(ms)) => ms,
        }
    }
}

/// Waits until `participant` holds no call, stream, handler or queued call.
async fn settles(participant: &Participant) {
    let idle = livekit_typed_rpc::Diagnostics::default();
    let deadline = tokio::time::Instant::now() + WAIT;
    while participant.diagnostics() != idle {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} still holds {:?}",
            participant.identity(),
            participant.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stops(probe: &Probe, count: usize) -> Vec<CancelReason> {
    tokio::time::timeout(WAIT, async {
        loop {
            let stopped = probe.stopped.lock().unwrap().clone();
            if stopped.len() >= count {
                return stopped;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server saw the cancel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_ten_thousand_items_and_cancels_through_the_server() {
    let server = LiveKitServer::shared();
    let robot = join(&server, "streams", "robot").await;
    let probe = Probe::default();
    let _serving = robot.serve(TelemetryServer::new(probe.clone())).unwrap();
    let operator = join(&server, "streams", "operator").await;
    assert!(operator.wait_for_participant("robot", WAIT).await.is_some());
    let telemetry = TelemetryClient::new(operator.clone(), "robot");

    let mut samples = telemetry.samples(10_000).await.unwrap();
    let mut n = 0;
    while let Some(item) = samples.next().await {
        assert_eq!(item.unwrap(), sample(n));
        n += 1;
    }
    assert_eq!(n, 10_000);
    assert_eq!(samples.end(), Some(&StreamEnd::Completed { count: 10_000 }));
    drop(samples);

    // Dropping a live stream cancels its producer at the far end.
    let mut live = telemetry.live(5).await.unwrap();
    for expected in 0..20 {
        assert_eq!(live.next().await.unwrap().unwrap(), expected);
    }
    drop(live);
    assert_eq!(stops(&probe, 1).await, [CancelReason::CallerCancelled]);

    // Dropping a cancellable call cancels its handler.
    let job = telemetry.long_job(30_000);
    assert!(tokio::time::timeout(Duration::from_millis(500), job)
        .await
        .is_err());
    assert_eq!(
        stops(&probe, 2).await,
        [CancelReason::CallerCancelled, CancelReason::CallerCancelled]
    );
    assert_eq!(telemetry.long_job(10).await.unwrap(), 10);
    settles(&robot).await;
    settles(&operator).await;
}
