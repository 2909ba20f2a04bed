//! Faults on the way to and through a real livekit-server: refused tokens, nothing
//! listening, malformed URLs, the server killed mid-call and the server restarted. Each
//! test that kills a server starts its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use livekit_typed_rpc::{
    sfu, ConnectionState, Error, JoinOptions, Participant, PerformRpcData, RpcErrorCode,
    RpcInvocationData,
};
use livekit_typed_rpc_sfu_tests::LiveKitServer;

const WAIT: Duration = Duration::from_secs(10);

async fn join(server: &LiveKitServer, room: &str, identity: &str) -> Participant {
    sfu::connect(
        server.url(),
        &server.token(room, identity),
        JoinOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{identity} joins: {e}"))
}

/// Joining fails, within `limit`.
async fn refused_within(url: &str, token: &str, limit: Duration) -> Error {
    let started = Instant::now();
    let error = sfu::connect(url, token, JoinOptions::default())
        .await
        .expect_err("joining must fail");
    assert!(
        started.elapsed() < limit,
        "{url}: took {:?}",
        started.elapsed()
    );
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_fast_with_the_servers_reason() {
    let server = LiveKitServer::start();
    // Signed with another secret: the server cannot verify it.
    let forged = livekit_api::access_token::AccessToken::with_api_key(
        server.api_key(),
        "not-the-secret-of-this-server-at-all-32+",
    )
    .with_identity("mallory")
    .with_grants(livekit_api::access_token::VideoGrants {
        room_join: true,
        room: "r".into(),
        ..Default::default()
    })
    .to_jwt()
    .unwrap();
    let error = refused_within(server.url(), &forged, Duration::from_secs(5)).await;
    match &error {
        Error::Join { status, reason, .. } => {
            assert_eq!(*status, Some(401), "{error}");
            assert!(!reason.is_empty(), "{error}");
        }
        other => panic!("expected Error::Join, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_and_malformed_urls_fail_fast() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let error = refused_within(
        &format!("ws://127.0.0.1:{port}"),
        "token",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(error, Error::Join { status: None, .. }),
        "{error:?}"
    );

    for bad in [
        "localhost:7880",
        "ftp://127.0.0.1",
        "ws://",
        "ws://127.0.0.1:notaport",
    ] {
        let error = refused_within(bad, "token", Duration::from_millis(100)).await;
        assert!(matches!(error, Error::Join { .. }), "{bad}: {error:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_mid_call_then_restarted() {
    let mut server = LiveKitServer::start();
    let robot = join(&server, "crash", "robot").await;
    robot
        .register_rpc_method("stall", |_: RpcInvocationData| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(String::new())
        })
        .unwrap();
    robot
        .register_rpc_method("ping", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    robot
        .set_attributes(HashMap::from([("role".to_owned(), "arm".to_owned())]))
        .await
        .unwrap();
    let operator = join(&server, "crash", "operator").await;
    assert!(operator.wait_for_participant("robot", WAIT).await.is_some());
    let call = |method: &str| PerformRpcData {
        destination_identity: "robot".into(),
        method: method.into(),
        payload: "p".into(),
        response_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let pending: Vec<_> = (0..5)
        .map(|_| {
            let operator = operator.clone();
            let call = call("stall");
            tokio::spawn(async move { operator.perform_rpc(call).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.kill();
    let killed = Instant::now();
    for call in pending {
        let error = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("a pending call fails within 5 s of the server dying")
            .unwrap()
            .unwrap_err();
        assert_eq!(error.code, RpcErrorCode::SendFailed as u32, "{error}");
        let detail = format!("{error} {:?}", error.data);
        assert!(
            detail.contains("connection to the LiveKit server was lost"),
            "{detail}"
        );
    }
    assert!(killed.elapsed() < Duration::from_secs(5));
    assert!(!operator.is_connected());
    assert!(matches!(
        operator.connection_state(),
        ConnectionState::Reconnecting(_)
    ));

    // The server comes back: both rejoin by themselves and publish their attributes again.
    server.restart();
    for p in [&robot, &operator] {
        let mut states = p.connection_states();
        tokio::time::timeout(
            Duration::from_secs(20),
            states.wait_for(|s| *s == ConnectionState::Connected),
        )
        .await
        .unwrap_or_else(|_| panic!("{} reconnects", p.identity()))
        .unwrap();
    }
    let role = operator
        .wait_for_remotes(WAIT, |remotes| {
            remotes
                .iter()
                .find(|r| r.identity == "robot")
                .and_then(|r| r.attributes.get("role").cloned())
        })
        .await;
    assert_eq!(
        role.as_deref(),
        Some("arm"),
        "the robot's attributes came back"
    );
    let reply = operator
        .perform_rpc(call("ping"))
        .await
        .expect("a new call succeeds");
    assert_eq!(reply, "p");
    assert_eq!(operator.diagnostics().pending_calls, 0);

    // Leaving for good while connected is a clean leave the other side sees.
    robot.leave().await;
    assert_eq!(robot.connection_state(), ConnectionState::Disconnected);
    let gone = operator
        .wait_for_remotes(WAIT, |remotes| {
            remotes.iter().all(|r| r.identity != "robot").then_some(())
        })
        .await;
    assert!(gone.is_some(), "the operator saw the robot leave");
}

/// The README's real-server example, run against a server of our own.
#[test]
fn the_sfu_room_example_runs_against_a_real_server() {
    let server = LiveKitServer::start();
    // `cargo test` builds the package's examples next to the test binaries.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("sfu_room");
    assert!(
        example.exists(),
        "{} was not built: run the whole package (`cargo test -p livekit-typed-rpc-sfu-tests`), which builds its examples",
        example.display()
    );
    let output = std::process::Command::new(&example)
        .env("LIVEKIT_URL", server.url())
        .env("LIVEKIT_API_KEY", server.api_key())
        .env(
            "LIVEKIT_API_SECRET",
            livekit_typed_rpc_sfu_tests::API_SECRET,
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the example failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("operator discovered Robot on robot-1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("move_arm(2, 41.5) -> joint 2 at 41.5 degrees for operator"),
        "{stdout}"
    );
    assert!(
        stdout.contains("snapshot(5000000) -> 5000000 bytes"),
        "{stdout}"
    );
}

/// Two livekit-server nodes sharing a Redis: a caller joined through one node calls a
/// service joined through the other, as in a scaled-out deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_across_two_nodes_sharing_redis() {
    let redis = livekit_typed_rpc_sfu_tests::Redis::start();
    let node = || {
        let mut config = livekit_typed_rpc_sfu_tests::ServerConfig::loopback();
        config.redis = Some(redis.address());
        LiveKitServer::start_with(config)
    };
    let (first, second) = (node(), node());
    let robot = join(&first, "scaled", "robot").await;
    robot
        .register_rpc_method("where", |d: RpcInvocationData| async move {
            Ok(format!("robot answers {}", d.caller_identity))
        })
        .unwrap();
    let operator = join(&second, "scaled", "operator").await;
    assert!(
        operator.wait_for_participant("robot", WAIT).await.is_some(),
        "the operator, on the second node, sees the robot"
    );
    let reply = operator
        .perform_rpc(PerformRpcData {
            destination_identity: "robot".into(),
            method: "where".into(),
            ..Default::default()
        })
        .await
        .expect("a call across nodes");
    assert_eq!(reply, "robot answers operator");
}

/// A TCP relay in front of the server's signal port, whose connections a test can cut
/// while the server (and the data channels, which do not go through it) stay up.
struct SignalRelay {
    port: u16,
    cut: tokio::sync::broadcast::Sender<()>,
    /// How many requests for `/rtc/v1` it answered 404.
    refused_v1: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// How the relay treats requests for the single-PC signal path.
#[derive(Clone, Copy, PartialEq)]
enum V1Path {
    Forward,
    /// Answer 404, as livekit-server before 1.9.10 (no `/rtc/v1`) does.
    NotFound,
}

impl SignalRelay {
    async fn start(target: u16) -> Self {
        Self::start_with(target, V1Path::Forward).await
    }

    async fn start_with(target: u16, v1: V1Path) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, _) = tokio::sync::broadcast::channel(4);
        let cuts = cut.clone();
        let refused_v1 = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let refused = refused_v1.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                let refused = refused.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    // The request head, to see which path it asks for.
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match inbound.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    if v1 == V1Path::NotFound && head.starts_with(b"GET /rtc/v1") {
                        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = inbound.write_all(not_found).await;
                        return;
                    }
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    if outbound.write_all(&head).await.is_err() {
                        return;
                    }
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        Self {
            port,
            cut,
            refused_v1,
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Drops every connection through the relay, as a network blip would.
    fn cut(&self) {
        let _ = self.cut.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_signal_connection_resumes_the_session_and_calls_go_on() {
    let server = LiveKitServer::start();
    let port = server.config().unwrap().port;
    let relay = SignalRelay::start(port).await;
    let robot = join(&server, "blip", "robot").await;
    robot
        .register_rpc_method("slow", |d: RpcInvocationData| async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(d.payload)
        })
        .unwrap();
    let operator = sfu::connect(
        &relay.url(),
        &server.token("blip", "operator"),
        JoinOptions::default(),
    )
    .await
    .expect("the operator joins through the relay");
    for (p, other) in [(&operator, "robot"), (&robot, "operator")] {
        assert!(p.wait_for_participant(other, WAIT).await.is_some());
    }
    let sid_before = robot.remote_participant("operator").unwrap().sid;
    let call = PerformRpcData {
        destination_identity: "robot".into(),
        method: "slow".into(),
        payload: "still here".into(),
        ..Default::default()
    };
    let in_flight = tokio::spawn({
        let operator = operator.clone();
        let call = call.clone();
        async move { operator.perform_rpc(call).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.cut();

    // The call in flight is answered over the data channels, which never broke.
    assert_eq!(
        in_flight
            .await
            .unwrap()
            .expect("the call survives the blip"),
        "still here"
    );
    // The session resumed: the signal connection works again (an attribute update goes
    // through it), and the robot never saw the operator leave or change sid.
    operator
        .set_attributes(HashMap::from([("after".to_owned(), "blip".to_owned())]))
        .await
        .unwrap();
    let seen = robot
        .wait_for_remotes(WAIT, |remotes| {
            remotes
                .iter()
                .find(|r| r.identity == "operator" && r.attributes.contains_key("after"))
                .map(|r| r.sid.clone())
        })
        .await;
    assert_eq!(
        seen.as_deref(),
        Some(sid_before.as_str()),
        "same session, attributes flow"
    );
    assert_eq!(operator.connection_state(), ConnectionState::Connected);
    assert_eq!(operator.perform_rpc(call).await.unwrap(), "still here");
}

/// A server without the single-PC path (`/rtc/v1`, added in livekit-server 1.9.10): the
/// participant falls back to `/rtc` and its two peer connections, and calls still flow
/// both ways, large results included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_rtc_v1_gets_two_peer_connections() {
    let server = LiveKitServer::start();
    let relay = SignalRelay::start_with(server.config().unwrap().port, V1Path::NotFound).await;
    let old_style = sfu::connect(
        &relay.url(),
        &server.token("v0", "old-style"),
        JoinOptions::default(),
    )
    .await
    .expect("joins through /rtc");
    // The join really took the fallback: the relay turned `/rtc/v1` away.
    assert!(
        relay.refused_v1.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the participant never asked for /rtc/v1"
    );
    let modern = join(&server, "v0", "modern").await;
    for p in [&old_style, &modern] {
        p.register_rpc_method("big", |d: RpcInvocationData| async move {
            Ok("y".repeat(d.payload.parse().unwrap_or(0)))
        })
        .unwrap();
    }
    for (p, other) in [(&old_style, "modern"), (&modern, "old-style")] {
        assert!(p.wait_for_participant(other, WAIT).await.is_some());
    }
    for (caller, callee) in [(&old_style, "modern"), (&modern, "old-style")] {
        for size in [10usize, 1_000_000] {
            let reply = caller
                .perform_rpc(PerformRpcData {
                    destination_identity: callee.into(),
                    method: "big".into(),
                    payload: size.to_string(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{} -> {callee}, {size} bytes: {e}", caller.identity()));
            assert_eq!(reply.len(), size);
        }
    }
}
