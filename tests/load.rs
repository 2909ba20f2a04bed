//! Heavy load waits its turn: an honest caller's burst queues and completes with default
//! limits, queued calls run in arrival order, calls whose caller gave up or left never
//! run, and a hostile flood is refused as load while an honest caller carries on.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livekit_typed_rpc::proto::{data_packet, RpcRequest};
use livekit_typed_rpc::room::RoomEvent;
use livekit_typed_rpc::{
    livekit_rpc, JoinOptions, MemoryRoom, PerformRpcData, RpcInvocationData, RpcLimits,
};
use support::RawPeer;

#[livekit_rpc(namespace = "lookup")]
pub trait Lookup {
    async fn square(&self, n: u64) -> u64;
}

struct Squares;

impl Lookup for Squares {
    async fn square(&self, n: u64) -> u64 {
        // A lookup that yields once, like one touching a cache or a database.
        tokio::task::yield_now().await;
        n * n
    }
}

fn call(method: &str, payload: String) -> PerformRpcData {
    PerformRpcData {
        destination_identity: "server".into(),
        method: method.into(),
        payload,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_typed_calls_from_one_caller_all_succeed() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    let _serving = server.serve(LookupServer::new(Squares)).unwrap();
    let caller = room.join("caller").await.unwrap();
    let client = LookupClient::new(caller.clone(), "server");
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..10_000u64 {
        let client = client.clone();
        calls.spawn(async move { (n, client.square(n).await) });
    }
    let mut done = 0;
    while let Some(joined) = calls.join_next().await {
        let (n, result) = joined.unwrap();
        assert_eq!(result.unwrap(), n * n);
        done += 1;
    }
    assert_eq!(done, 10_000);
    let d = server.diagnostics();
    assert_eq!(
        (d.queued_calls, d.running_handlers, d.refused_overloaded),
        (0, 0, 0)
    );
    assert_eq!(caller.diagnostics().pending_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_raw_echoes_up_to_60_kb_all_succeed() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("echo", |d: RpcInvocationData| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(d.payload)
        })
        .unwrap();
    let caller = room.join("caller").await.unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..200usize {
        let caller = caller.clone();
        // Mixed sizes from 0 to 60 KB, text that compresses and text that does not.
        let size = i * 60_000 / 199;
        let payload: String = (0..size)
            .map(|j| (b'a' + ((j * 31 + i * 7 + j / 3) % 26) as u8) as char)
            .collect();
        calls.spawn(async move {
            let reply = caller.perform_rpc(call("echo", payload.clone())).await;
            (payload, reply)
        });
    }
    while let Some(joined) = calls.join_next().await {
        let (sent, reply) = joined.unwrap();
        assert_eq!(reply.unwrap(), sent);
    }
    assert_eq!(server.diagnostics().refused_overloaded, 0);
}

fn one_at_a_time() -> JoinOptions {
    JoinOptions {
        rpc_limits: RpcLimits {
            max_concurrent_calls_per_caller: 1,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A handler that blocks until the test lets it go, and records what ran.
fn gated(
    server: &livekit_typed_rpc::Participant,
) -> (Arc<tokio::sync::Semaphore>, Arc<Mutex<Vec<String>>>) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let (g, r) = (gate.clone(), ran.clone());
    server
        .register_rpc_method("work", move |d: RpcInvocationData| {
            let (g, r) = (g.clone(), r.clone());
            async move {
                r.lock().unwrap().push(d.payload.clone());
                g.acquire().await.unwrap().forget();
                Ok(d.payload)
            }
        })
        .unwrap();
    (gate, ran)
}

async fn until(mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test]
async fn queued_calls_run_in_arrival_order() {
    let room = MemoryRoom::new();
    let server = room.join_with("server", one_at_a_time()).await.unwrap();
    let (gate, ran) = gated(&server);
    let caller = room.join("caller").await.unwrap();
    let mut calls = Vec::new();
    for i in 0..20 {
        let caller = caller.clone();
        calls.push(tokio::spawn(async move {
            caller.perform_rpc(call("work", i.to_string())).await
        }));
        // Each call is on the wire before the next starts.
        let s = server.clone();
        until(move || {
            let d = s.diagnostics();
            d.running_handlers + d.queued_calls == i + 1
        })
        .await;
    }
    assert_eq!(server.diagnostics().queued_calls, 19);
    gate.add_permits(20);
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), i.to_string());
    }
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(*ran.lock().unwrap(), expected);
}

#[tokio::test]
async fn queued_calls_of_a_caller_that_leaves_never_run() {
    let room = MemoryRoom::new();
    let server = room.join_with("server", one_at_a_time()).await.unwrap();
    let (gate, ran) = gated(&server);
    let caller = room.join("caller").await.unwrap();
    for i in 0..5 {
        let caller = caller.clone();
        tokio::spawn(async move { caller.perform_rpc(call("work", i.to_string())).await });
    }
    let s = server.clone();
    until(move || s.diagnostics().queued_calls == 4).await;
    caller.leave().await;
    let s = server.clone();
    until(move || s.diagnostics().queued_calls == 0).await;
    gate.add_permits(5);
    let s = server.clone();
    until(move || s.diagnostics().running_handlers == 0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*ran.lock().unwrap(), vec!["0".to_string()]);
}

#[tokio::test]
async fn a_queued_call_whose_caller_gave_up_never_runs() {
    let room = MemoryRoom::new();
    let server = room.join_with("server", one_at_a_time()).await.unwrap();
    let (gate, ran) = gated(&server);
    let mut caller = RawPeer::join(&room, "caller", 0, false);
    // Two v1 requests; the second one's caller gives up after 300 ms.
    for (id, timeout) in [("first", 60_000), ("second", 300)] {
        caller
            .send(
                "server",
                data_packet::Value::RpcRequest(RpcRequest {
                    id: id.into(),
                    method: "work".into(),
                    payload: id.into(),
                    response_timeout_ms: timeout,
                    version: 1,
                    ..Default::default()
                }),
            )
            .await;
    }
    let s = server.clone();
    until(move || s.diagnostics().queued_calls == 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.diagnostics().queued_calls, 0);
    gate.add_permits(2);
    // acks for both, then the second's timeout error, then the first's result.
    let mut second_error = None;
    let mut first_result = None;
    while first_result.is_none() {
        let packet = caller.next_packet().await;
        if let Some(data_packet::Value::RpcResponse(r)) = packet.value {
            match (r.request_id.as_str(), r.value) {
                ("second", Some(livekit_typed_rpc::proto::rpc_response::Value::Error(e))) => {
                    second_error = Some(e)
                }
                ("first", v) => first_result = v,
                other => panic!("unexpected response {other:?}"),
            }
        }
    }
    let e = second_error.expect("the expired call is answered");
    assert_eq!(e.code, 1502);
    assert!(e.data.contains("waited"), "{}", e.data);
    assert_eq!(*ran.lock().unwrap(), vec!["first".to_string()]);
}

/// The hostile peer's requests as fast as it can publish them; their answers are read and
/// dropped so they do not pile up in this process.
async fn flood(room: &MemoryRoom, requests: usize) -> RawPeer {
    let hostile = RawPeer::join(room, "hostile", 0, false);
    for i in 0..requests {
        hostile
            .send(
                "server",
                data_packet::Value::RpcRequest(RpcRequest {
                    id: format!("h{i}"),
                    method: "slow".into(),
                    payload: "{}".into(),
                    response_timeout_ms: 10_000,
                    version: 1,
                    ..Default::default()
                }),
            )
            .await;
        if i % 1024 == 0 {
            tokio::task::yield_now().await;
        }
    }
    hostile
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_flood_is_refused_as_load_while_an_honest_caller_completes() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("slow", |_d: RpcInvocationData| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(String::new())
        })
        .unwrap();
    server
        .register_rpc_method("fast", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    let honest = room.join("honest").await.unwrap();
    let max_queued = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (server, max_queued) = (server.clone(), max_queued.clone());
        tokio::spawn(async move {
            loop {
                max_queued.fetch_max(server.diagnostics().queued_calls, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let honest_calls = {
        let honest = honest.clone();
        tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..200 {
                let reply = honest.perform_rpc(call("fast", i.to_string())).await;
                assert_eq!(reply.unwrap(), i.to_string());
                ok += 1;
            }
            ok
        })
    };
    let mut hostile = flood(&room, 100_000).await;
    assert_eq!(honest_calls.await.unwrap(), 200);

    // Every hostile request is acknowledged; those past the queue's bounds are refused as
    // load, each with an answer that says so.
    let (mut acks, mut overloaded) = (0u64, 0u64);
    while acks < 100_000 || overloaded < server.diagnostics().refused_overloaded {
        let event = tokio::time::timeout(Duration::from_secs(10), hostile.events.recv())
            .await
            .expect("the server stopped answering the flood")
            .unwrap();
        let RoomEvent::Data(p) = event else { continue };
        match p.value {
            Some(data_packet::Value::RpcAck(_)) => acks += 1,
            Some(data_packet::Value::RpcResponse(r)) => {
                if let Some(livekit_typed_rpc::proto::rpc_response::Value::Error(e)) = r.value {
                    if e.message == livekit_typed_rpc::RpcError::OVERLOADED_MESSAGE {
                        overloaded += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let refused = server.diagnostics().refused_overloaded;
    assert!(refused > 50_000, "only {refused} refused");
    assert_eq!(overloaded, refused, "every refusal is answered as load");
    let limits = RpcLimits::default();
    assert!(max_queued.load(Ordering::Relaxed) <= limits.max_queued_calls_per_caller);
    // The hostile peer leaves: its queued calls are dropped without running.
    hostile.transport.leave();
    let s = server.clone();
    until(move || s.diagnostics().queued_calls == 0).await;
    watcher.abort();
}
