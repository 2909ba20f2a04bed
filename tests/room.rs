//! The in-process room: sender stamping, routing, ordering, joins and leaves (explicit and
//! on drop of the last handle), the data-channel size limit and injected latency.

mod support;

use std::time::Duration;

use livekit_typed_rpc::proto::{self, data_packet};
use livekit_typed_rpc::room::TransportError;
use livekit_typed_rpc::{MemoryRoom, RoomConfig, RpcInvocationData};
use support::*;

const WAIT: Duration = Duration::from_secs(5);

async fn gone(p: &livekit_typed_rpc::Participant, identity: &str) {
    tokio::time::timeout(WAIT, async {
        while p.remote_participant(identity).is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} still sees {identity}", p.identity()));
}

#[tokio::test]
async fn joins_are_announced_with_what_participants_advertise() {
    let room = MemoryRoom::new();
    let a = room.join("a").await.unwrap();
    let b = room.join_with("b", options(1, false)).await.unwrap();
    let seen_by_a = a.remote_participant("b").unwrap();
    assert_eq!(
        (seen_by_a.client_protocol, seen_by_a.capabilities.clone()),
        (1, vec![])
    );
    let seen_by_b = b.remote_participant("a").unwrap();
    assert_eq!(seen_by_b.client_protocol, 2);
    assert!(seen_by_b.supports_deflate_raw());
    assert_ne!(seen_by_a.sid, seen_by_b.sid);
    assert!(room.join("").await.is_err(), "an empty identity is refused");
}

#[tokio::test]
async fn dropping_the_last_handle_leaves_and_everyone_sees_it() {
    let room = MemoryRoom::new();
    let a = room.join("a").await.unwrap();
    let b = room.join("b").await.unwrap();
    let b2 = b.clone();
    drop(b);
    assert!(
        a.remote_participant("b").is_some(),
        "a clone still holds b in the room"
    );
    drop(b2);
    gone(&a, "b").await;
    assert_eq!(room.identities(), vec!["a".to_string()]);
}

#[tokio::test]
async fn explicit_leave_is_seen_and_the_participant_stops() {
    let room = MemoryRoom::new();
    let a = room.join("a").await.unwrap();
    let b = room.join("b").await.unwrap();
    b.leave().await;
    gone(&a, "b").await;
    assert!(!b.is_connected());
    assert!(b.remote_participants().is_empty());
}

#[tokio::test]
async fn the_room_stamps_the_sender_and_routes_by_destination() {
    let room = MemoryRoom::new();
    let mut a = RawPeer::join(&room, "a", 2, true);
    let mut b = RawPeer::join(&room, "b", 2, true);
    let c = RawPeer::join(&room, "c", 2, true);
    let mut packet = proto::reliable_packet(
        vec!["a".into()],
        data_packet::Value::RpcAck(proto::RpcAck {
            request_id: "1".into(),
        }),
    );
    packet.participant_identity = "forged".into();
    c.transport.publish(packet).await.unwrap();
    let got = a.next_packet().await;
    assert_eq!(got.participant_identity, "c");
    b.expect_no_packet(Duration::from_millis(20)).await;
    // Empty destinations: everyone else, never back to the sender.
    let rec = room.record_packets();
    c.transport
        .publish(proto::reliable_packet(
            vec![],
            data_packet::Value::RpcAck(proto::RpcAck {
                request_id: "2".into(),
            }),
        ))
        .await
        .unwrap();
    assert_eq!(a.next_packet().await.participant_identity, "c");
    assert_eq!(b.next_packet().await.participant_identity, "c");
    assert_eq!(rec.take()[0].to, vec!["a".to_string(), "b".to_string()]);
    // Packets for identities not in the room are dropped, not an error.
    c.transport
        .publish(proto::reliable_packet(
            vec!["nobody".into()],
            data_packet::Value::RpcAck(proto::RpcAck::default()),
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn delivery_is_in_order_per_sender() {
    let room = MemoryRoom::with_config(RoomConfig {
        latency: Duration::from_millis(5),
        ..Default::default()
    });
    let mut b = RawPeer::join(&room, "b", 2, true);
    let a = RawPeer::join(&room, "a", 2, true);
    for i in 0..500 {
        a.send(
            "b",
            data_packet::Value::RpcAck(proto::RpcAck {
                request_id: i.to_string(),
            }),
        )
        .await;
    }
    for i in 0..500 {
        match b.next_value().await {
            data_packet::Value::RpcAck(ack) => assert_eq!(ack.request_id, i.to_string()),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn the_data_channel_size_limit_is_enforced_when_asked() {
    let room = MemoryRoom::with_config(RoomConfig {
        max_message_bytes: Some(64_000),
        ..Default::default()
    });
    let a = RawPeer::join(&room, "a", 2, true);
    let _b = RawPeer::join(&room, "b", 2, true);
    let big = proto::reliable_packet(
        vec!["b".into()],
        data_packet::Value::StreamChunk(proto::data_stream::Chunk {
            stream_id: "s".into(),
            content: vec![0; 70_000],
            ..Default::default()
        }),
    );
    assert!(matches!(
        a.transport.publish(big).await,
        Err(TransportError::MessageTooLarge { max: 64_000, .. })
    ));
    // Everything the engine itself sends fits: 8 MB calls go through the limited room.
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    let client = room.join("client").await.unwrap();
    let payload = incompressible_text(8_000_000, 1);
    assert_eq!(
        client
            .perform_rpc(call("server", "echo", &payload))
            .await
            .unwrap(),
        payload
    );
}

#[tokio::test]
async fn injected_latency_delays_every_delivery() {
    let room = MemoryRoom::with_config(RoomConfig {
        latency: Duration::from_millis(40),
        ..Default::default()
    });
    let server = room.join("server").await.unwrap();
    server
        .register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    let client = room.join("client").await.unwrap();
    client.wait_for_participant("server", WAIT).await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(
        client
            .perform_rpc(call("server", "echo", "x"))
            .await
            .unwrap(),
        "x"
    );
    // Request there, response back: at least two one-way delays.
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_second_join_with_the_same_identity_replaces_the_first() {
    let room = MemoryRoom::new();
    let watcher = room.join("watcher").await.unwrap();
    let first = room.join("dup").await.unwrap();
    let second = room.join("dup").await.unwrap();
    tokio::time::timeout(WAIT, async {
        while first.is_connected() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert!(second.is_connected());
    assert!(watcher.remote_participant("dup").is_some());
    // The old handle leaving does not take the new one out.
    drop(first);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        room.identities(),
        vec!["dup".to_string(), "watcher".to_string()]
    );
}

#[tokio::test]
async fn participants_keep_their_room_alive() {
    let (a, b) = {
        let room = MemoryRoom::new();
        (room.join("a").await.unwrap(), room.join("b").await.unwrap())
    };
    b.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    assert_eq!(
        a.perform_rpc(call("b", "echo", "still a room"))
            .await
            .unwrap(),
        "still a room"
    );
}
