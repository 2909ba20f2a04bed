//! Who may call what is the server's to decide: caller policies on typed services and raw
//! methods, checked before the payload is read, against the caller as the room knows it.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use livekit_typed_rpc::proto::{self, data_packet, RpcRequest};
use livekit_typed_rpc::{
    livekit_rpc, CallError, CallerPolicy, Error, JoinOptions, MemoryRoom, ParticipantKind,
    PerformRpcData, RpcContext, RpcError, RpcErrorCode, RpcInvocationData, ServeOptions,
};
use support::RawPeer;

#[livekit_rpc(namespace = "arm")]
pub trait Arm {
    async fn stop(&self) -> String;
    async fn status(&self) -> String;
    async fn whoami(&self, ctx: RpcContext) -> (String, String, Option<String>);
    #[rpc(raw)]
    async fn raw_move(&self, command: String) -> String;
}

struct Robot {
    ran: Arc<AtomicUsize>,
}

impl Arm for Robot {
    async fn stop(&self) -> String {
        self.ran.fetch_add(1, Ordering::SeqCst);
        "stopped".into()
    }
    async fn status(&self) -> String {
        "ok".into()
    }
    async fn whoami(&self, ctx: RpcContext) -> (String, String, Option<String>) {
        (
            ctx.caller_identity,
            ctx.caller_kind.as_str_name().to_owned(),
            ctx.caller_attributes.get("role").cloned(),
        )
    }
    async fn raw_move(&self, command: String) -> String {
        self.ran.fetch_add(1, Ordering::SeqCst);
        command
    }
}

fn as_kind(kind: ParticipantKind, attributes: &[(&str, &str)]) -> JoinOptions {
    JoinOptions {
        kind,
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        ..Default::default()
    }
}

fn assert_refused<E: std::fmt::Debug>(result: Result<impl std::fmt::Debug, CallError<E>>) {
    match result {
        Err(CallError::Rpc(e)) => assert_eq!(e.code, RpcErrorCode::UnsupportedMethod as u32),
        other => panic!("expected UNSUPPORTED_METHOD, got {other:?}"),
    }
}

#[tokio::test]
async fn service_policy_with_a_per_method_override() {
    let room = MemoryRoom::new();
    let server = room.join("robot").await.unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let _serving = server
        .serve_with(
            ArmServer::new(Robot { ran: ran.clone() }),
            ServeOptions::default()
                .allow(CallerPolicy::kind(ParticipantKind::Agent))
                .allow_method("arm.status", CallerPolicy::anyone()),
        )
        .unwrap();
    let agent = room
        .join_with("agent", as_kind(ParticipantKind::Agent, &[]))
        .await
        .unwrap();
    let user = room.join("user").await.unwrap();
    let as_agent = ArmClient::new(agent, "robot");
    let as_user = ArmClient::new(user, "robot");

    assert_eq!(as_agent.stop().await.unwrap(), "stopped");
    assert_eq!(as_agent.raw_move("left".into()).await.unwrap(), "left");
    assert_refused(as_user.stop().await);
    assert_refused(as_user.raw_move("left".into()).await);
    assert_eq!(as_user.status().await.unwrap(), "ok");
    assert_eq!(ran.load(Ordering::SeqCst), 2, "refused calls never ran");
}

#[tokio::test]
async fn context_carries_the_callers_kind_and_attributes() {
    let room = MemoryRoom::new();
    let server = room.join("robot").await.unwrap();
    let _serving = server
        .serve(ArmServer::new(Robot {
            ran: Arc::default(),
        }))
        .unwrap();
    let sip = room
        .join_with(
            "phone",
            as_kind(ParticipantKind::Sip, &[("role", "caller")]),
        )
        .await
        .unwrap();
    let who = ArmClient::new(sip, "robot").whoami().await.unwrap();
    assert_eq!(
        who,
        ("phone".into(), "SIP".into(), Some("caller".to_string()))
    );
}

#[tokio::test]
async fn attribute_predicate_and_combinators_on_a_raw_method() {
    let room = MemoryRoom::new();
    let server = room.join("robot").await.unwrap();
    let policy = CallerPolicy::attribute("role", "operator")
        .and(CallerPolicy::predicate(|c| {
            !c.identity.starts_with("guest")
        }))
        .or(CallerPolicy::identities(["admin"]));
    server
        .register_rpc_method_with_policy("reset", policy, |_: RpcInvocationData| async {
            Ok("reset".to_string())
        })
        .unwrap();
    let call = |p: livekit_typed_rpc::Participant| async move {
        p.perform_rpc(PerformRpcData {
            destination_identity: "robot".into(),
            method: "reset".into(),
            ..Default::default()
        })
        .await
    };
    let operator = room
        .join_with(
            "op",
            as_kind(ParticipantKind::Standard, &[("role", "operator")]),
        )
        .await
        .unwrap();
    let guest_operator = room
        .join_with(
            "guest-op",
            as_kind(ParticipantKind::Standard, &[("role", "operator")]),
        )
        .await
        .unwrap();
    let admin = room.join("admin").await.unwrap();
    let viewer = room
        .join_with(
            "viewer",
            as_kind(ParticipantKind::Standard, &[("role", "viewer")]),
        )
        .await
        .unwrap();
    assert_eq!(call(operator).await.unwrap(), "reset");
    assert_eq!(call(admin).await.unwrap(), "reset");
    assert_eq!(call(guest_operator).await.unwrap_err().code, 1400);
    assert_eq!(call(viewer).await.unwrap_err().code, 1400);
}

/// A caller that writes someone else's identity into its packets is still itself: the
/// room stamps the sender, and the policy sees the stamped identity.
#[tokio::test]
async fn a_caller_lying_about_its_identity_is_refused() {
    let room = MemoryRoom::new();
    let server = room.join("robot").await.unwrap();
    server
        .register_rpc_method_with_policy(
            "stop",
            CallerPolicy::identities(["operator"]),
            |_: RpcInvocationData| async { Ok("stopped".to_string()) },
        )
        .unwrap();
    let mut mallory = RawPeer::join(&room, "mallory", 0, false);
    let mut packet = proto::reliable_packet(
        vec!["robot".into()],
        data_packet::Value::RpcRequest(RpcRequest {
            id: "r1".into(),
            method: "stop".into(),
            version: 1,
            response_timeout_ms: 8000,
            ..Default::default()
        }),
    );
    packet.participant_identity = "operator".into();
    mallory.transport.publish(packet).await.unwrap();
    loop {
        let packet = mallory.next_packet().await;
        if let Some(data_packet::Value::RpcResponse(r)) = packet.value {
            match r.value {
                Some(proto::rpc_response::Value::Error(e)) => {
                    assert_eq!(e.code, 1400);
                    break;
                }
                other => panic!("mallory was served: {other:?}"),
            }
        }
    }
}

/// A refused caller's large v2 request is answered before its payload is read: the
/// handler never runs and no stream is left open.
#[tokio::test]
async fn a_refused_callers_large_request_is_not_read() {
    let room = MemoryRoom::new();
    let server = room.join("robot").await.unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    server
        .register_rpc_method_with_policy(
            "upload",
            CallerPolicy::kind(ParticipantKind::Agent),
            move |d: RpcInvocationData| {
                r.fetch_add(1, Ordering::SeqCst);
                async move { Ok(d.payload.len().to_string()) }
            },
        )
        .unwrap();
    let stranger = room.join("stranger").await.unwrap();
    let err = stranger
        .perform_rpc(PerformRpcData {
            destination_identity: "robot".into(),
            method: "upload".into(),
            payload: "x".repeat(10_000_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, 1400);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    for _ in 0..100 {
        if server.diagnostics().open_incoming_streams == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn a_policy_for_a_method_the_service_lacks_is_an_error() {
    let room = MemoryRoom::new();
    let server = room.join("robot").await.unwrap();
    let err = server
        .serve_with(
            ArmServer::new(Robot {
                ran: Arc::default(),
            }),
            ServeOptions::default().allow_method("arm.stpo", CallerPolicy::anyone()),
        )
        .err()
        .unwrap();
    assert!(
        matches!(&err, Error::UnknownMethod { method, served } if method == "arm.stpo" && served.contains(&"arm.stop".to_string())),
        "{err}"
    );
    // Nothing was registered: serving again works.
    let _serving = server
        .serve(ArmServer::new(Robot {
            ran: Arc::default(),
        }))
        .unwrap();
}

/// Locally raised errors read as words; the diagnosis JSON stays in `data`.
#[tokio::test(start_paused = true)]
async fn a_timeout_displays_its_diagnosis_in_words() {
    let room = MemoryRoom::new();
    let caller = room.join("caller").await.unwrap();
    let err = caller
        .perform_rpc(PerformRpcData {
            destination_identity: "nobody".into(),
            method: "m".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(!shown.contains('{'), "{shown}");
    assert!(shown.starts_with("RPC Error: "), "{shown}");
    assert!(shown.contains("calling nobody"), "{shown}");
    let diagnosis = livekit_typed_rpc::CallDiagnosis::from_error(&err).unwrap();
    assert!(shown.contains(&diagnosis.hint), "{shown}");
    // A remote error's data is shown as it came.
    let remote = RpcError::new(4001, "no", Some("{\"x\":1}".into()));
    assert_eq!(remote.to_string(), "RPC Error: no (4001): {\"x\":1}");
}
