//! Faults: peers leaving mid-request and mid-response, a bridge connection dropped
//! mid-stream, handlers that never return or panic, and 1 000 callers hammering one
//! handler with short timeouts. After each, the survivors still complete calls and no
//! pending call, open stream, running handler or task is left behind.

mod support;

use std::time::Duration;

use livekit_typed_rpc::bridge::{self, encode_frame, FRAME_DATA};
use livekit_typed_rpc::proto::{self, data_packet, Message};
use livekit_typed_rpc::streams::{StreamError, TextStreamReader};
use livekit_typed_rpc::{Diagnostics, JoinOptions, MemoryRoom, Participant, RpcInvocationData};
use support::*;
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(10);

async fn serve_echo(p: &Participant) {
    p.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
}

async fn settled(p: &Participant) {
    tokio::time::timeout(WAIT, async {
        while p.diagnostics() != Diagnostics::default() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} kept state: {:?}", p.identity(), p.diagnostics()));
}

async fn survivors_work(room: &MemoryRoom, server: &str) {
    let fresh = room
        .join(&format!("survivor-{}", uuid::Uuid::new_v4()))
        .await
        .unwrap();
    assert_eq!(
        fresh
            .perform_rpc(call(server, "echo", "alive"))
            .await
            .unwrap(),
        "alive"
    );
    fresh.leave().await;
}

#[tokio::test]
async fn caller_leaves_mid_request() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    serve_echo(&server).await;
    let mut caller = RawPeer::join(&room, "caller", 2, true);
    let h = rpc_request_header("s1", "echo", Some(100_000));
    caller.send("server", header_packet(h)).await;
    caller.send("server", chunk("s1", 0, &[b'a'; 15_000])).await;
    assert!(matches!(
        caller.next_value().await,
        data_packet::Value::RpcAck(_)
    ));
    caller.transport.leave();
    settled(&server).await;
    survivors_work(&room, "server").await;
}

#[tokio::test]
async fn handler_leaves_mid_response() {
    let room = MemoryRoom::new();
    let mut server = RawPeer::join(&room, "server", 2, false);
    let caller = room.join("caller").await.unwrap();
    let c = caller.clone();
    let pending = tokio::spawn(async move { c.perform_rpc(call("server", "big", "")).await });
    let (h, _, _) = server.next_stream().await;
    let id = h.attributes[proto::ATTR_REQUEST_ID].clone();
    server
        .send(
            "caller",
            data_packet::Value::RpcAck(proto::RpcAck {
                request_id: id.clone(),
            }),
        )
        .await;
    let mut rh = text_header("resp", proto::RPC_RESPONSE_TOPIC, Some(1_000_000));
    rh.attributes.insert(proto::ATTR_REQUEST_ID.into(), id);
    server.send("caller", header_packet(rh)).await;
    server
        .send("caller", chunk("resp", 0, &[b'x'; 15_000]))
        .await;
    server.transport.leave();
    let e = tokio::time::timeout(WAIT, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, 1503);
    settled(&caller).await;
    let other = room.join("other").await.unwrap();
    serve_echo(&other).await;
    survivors_work(&room, "other").await;
}

#[tokio::test]
async fn bridge_connection_dropped_mid_stream() {
    let room = MemoryRoom::new();
    let receiver = room.join("receiver").await.unwrap();
    serve_echo(&receiver).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<TextStreamReader>();
    receiver
        .register_text_stream_handler("t", move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut s = bridge_join(server.local_addr(), "flaky", 2, vec![]).await;
    let packet = |v| proto::reliable_packet(vec!["receiver".into()], v).encode_to_vec();
    s.write_all(&encode_frame(
        FRAME_DATA,
        &packet(header_packet(text_header("s1", "t", None))),
    ))
    .await
    .unwrap();
    s.write_all(&encode_frame(
        FRAME_DATA,
        &packet(chunk("s1", 0, b"partial")),
    ))
    .await
    .unwrap();
    let reader = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    drop(s);
    let err = tokio::time::timeout(WAIT, reader.read_all())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, StreamError::AbnormalEnd(m) if m.contains("flaky")));
    settled(&receiver).await;
    survivors_work(&room, "receiver").await;
}

#[tokio::test(start_paused = true)]
async fn handler_that_never_returns_is_cancelled_after_the_callers_deadline() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    serve_echo(&server).await;
    server
        .register_rpc_method("forever", |_d| async {
            std::future::pending::<()>().await;
            Ok(String::new())
        })
        .unwrap();
    let caller = room.join("caller").await.unwrap();
    let mut data = call("server", "forever", "");
    data.response_timeout = Duration::from_secs(1);
    assert_eq!(caller.perform_rpc(data).await.unwrap_err().code, 1502);
    assert_eq!(
        server.diagnostics().running_handlers,
        1,
        "still running right after the caller gave up"
    );
    // The wire deadline (8 s minimum) plus the 10 s grace later, it is gone.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(server.diagnostics(), Diagnostics::default());
    assert_eq!(caller.diagnostics(), Diagnostics::default());
    assert_eq!(
        caller
            .perform_rpc(call("server", "echo", "x"))
            .await
            .unwrap(),
        "x"
    );
}

#[tokio::test(start_paused = true)]
async fn handler_that_never_returns_runs_on_when_cancellation_is_off() {
    let room = MemoryRoom::new();
    let options = JoinOptions {
        rpc_limits: livekit_typed_rpc::RpcLimits {
            cancel_handlers_after_deadline: None,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = room.join_with("server", options).await.unwrap();
    server
        .register_rpc_method("forever", |_d| async {
            std::future::pending::<Result<String, _>>().await
        })
        .unwrap();
    let caller = room.join("caller").await.unwrap();
    let c = caller.clone();
    let pending = tokio::spawn(async move { c.perform_rpc(call("server", "forever", "")).await });
    // Far past the wire deadline plus the default 10 s grace: still running.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(server.diagnostics().running_handlers, 1);
    assert_eq!(pending.await.unwrap().unwrap_err().code, 1502);
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

#[tokio::test]
async fn panicking_handler_leaves_the_participant_serving() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    serve_echo(&server).await;
    server
        .register_rpc_method("boom", |_d| async { panic!("boom") })
        .unwrap();
    let caller = room.join("caller").await.unwrap();
    for _ in 0..20 {
        let e = caller
            .perform_rpc(call("server", "boom", ""))
            .await
            .unwrap_err();
        assert_eq!(e.code, 1500);
    }
    settled(&server).await;
    settled(&caller).await;
    survivors_work(&room, "server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callers_hammer_one_handler_with_short_timeouts() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    serve_echo(&server).await;
    server
        .register_rpc_method("work", |d: RpcInvocationData| async move {
            let ms: u64 = d.payload.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(d.payload)
        })
        .unwrap();
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let mut callers = Vec::new();
    for i in 0..1_000 {
        let options = JoinOptions {
            client_protocol: i % 3,
            compression: i % 2 == 0,
            ..Default::default()
        };
        callers.push(
            room.join_with(&format!("caller-{i}"), options)
                .await
                .unwrap(),
        );
    }
    let mut calls = tokio::task::JoinSet::new();
    for (i, c) in callers.iter().enumerate() {
        for j in 0..3u64 {
            let c = c.clone();
            let ms = (i as u64 * 7 + j * 13) % 150;
            calls.spawn(async move {
                let mut data = call("server", "work", &ms.to_string());
                data.response_timeout = Duration::from_millis(75);
                (ms, c.perform_rpc(data).await)
            });
        }
    }
    let (mut ok, mut timed_out) = (0, 0);
    while let Some(r) = calls.join_next().await {
        match r.unwrap() {
            (ms, Ok(reply)) => {
                assert_eq!(reply, ms.to_string());
                ok += 1;
            }
            (_, Err(e)) => {
                assert_eq!(e.code, 1502, "{e}");
                timed_out += 1;
            }
        }
    }
    assert_eq!(ok + timed_out, 3_000);
    assert!(ok > 0 && timed_out > 0, "ok {ok}, timed out {timed_out}");
    for c in &callers {
        assert_eq!(c.diagnostics().pending_calls, 0);
    }
    settled(&server).await;
    for c in callers.drain(..) {
        c.leave().await;
    }
    survivors_work(&room, "server").await;
    tokio::time::timeout(WAIT, async {
        while tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
            > baseline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every caller's tasks ended");
}
