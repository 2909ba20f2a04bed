//! Typed and raw calls between Rust participants through a real livekit-server.

use std::time::Duration;

use livekit_typed_rpc::{sfu, JoinOptions, PerformRpcData, RpcInvocationData};
use livekit_typed_rpc_sfu_tests::LiveKitServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_call_crosses_the_server() {
    let server = LiveKitServer::shared();
    let room = "raw-call";
    let alice = sfu::connect(
        server.url(),
        &server.token(room, "alice"),
        JoinOptions::default(),
    )
    .await
    .expect("alice joins");
    let bob = sfu::connect(
        server.url(),
        &server.token(room, "bob"),
        JoinOptions::default(),
    )
    .await
    .expect("bob joins");
    alice
        .register_rpc_method("echo", |data: RpcInvocationData| async move {
            Ok(format!("{} from {}", data.payload, data.caller_identity))
        })
        .unwrap();
    assert!(
        bob.wait_for_participant("alice", Duration::from_secs(10))
            .await
            .is_some(),
        "bob sees alice"
    );
    let reply = bob
        .perform_rpc(PerformRpcData {
            destination_identity: "alice".into(),
            method: "echo".into(),
            payload: "hi".into(),
            ..Default::default()
        })
        .await
        .expect("the call succeeds");
    assert_eq!(reply, "hi from bob");
}
