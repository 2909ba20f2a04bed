//! The room wire bridge (SPEC section 5): frames exactly as specified, participants
//! across processes, and bad input that closes only the offending connection.

mod support;

use support::bridge_join;

use std::process::Stdio;
use std::time::Duration;

use livekit_typed_rpc::bridge::{
    self, encode_frame, read_frame, BridgeConfig, FRAME_ATTRIBUTES, FRAME_DATA, FRAME_JOIN,
    FRAME_JOINED, FRAME_PARTICIPANT,
};
use livekit_typed_rpc::proto::{
    self, data_packet, participant_info, Message, ParticipantInfo, RpcAck,
    UpdateParticipantMetadata,
};
use livekit_typed_rpc::{JoinOptions, MemoryRoom, PerformRpcData, RpcInvocationData};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

async fn next_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    tokio::time::timeout(WAIT, read_frame(s))
        .await
        .expect("no frame")
        .expect("frame")
}

/// The connection is closed by the room: reading yields EOF.
async fn assert_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .expect("connection stayed open")
        {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn frames_follow_the_spec() {
    let room = MemoryRoom::new();
    let alice = room
        .join_with(
            "alice",
            JoinOptions {
                client_protocol: 1,
                compression: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut carol = bridge_join(
        server.local_addr(),
        "carol",
        2,
        vec![proto::CAP_COMPRESSION_DEFLATE_RAW],
    )
    .await;

    // Right after JOIN: one PARTICIPANT frame per participant present, ACTIVE, with a sid.
    let (kind, body) = next_frame(&mut carol).await;
    assert_eq!(kind, FRAME_PARTICIPANT);
    let info = ParticipantInfo::decode(body.as_slice()).unwrap();
    assert_eq!(
        (info.identity.as_str(), info.client_protocol, info.state),
        ("alice", 1, participant_info::State::Active as i32)
    );
    assert!(!info.sid.is_empty());
    // Then JOINED: carol as the room admitted her, after everyone present.
    let (kind, body) = next_frame(&mut carol).await;
    assert_eq!(kind, FRAME_JOINED);
    let me = ParticipantInfo::decode(body.as_slice()).unwrap();
    assert_eq!((me.identity.as_str(), me.client_protocol), ("carol", 2));
    assert!(!me.sid.is_empty());

    // The room knows carol as she advertised herself.
    let seen = alice.wait_for_participant("carol", WAIT).await.unwrap();
    assert_eq!(
        (seen.client_protocol, seen.supports_deflate_raw()),
        (2, true)
    );

    // DATA from carol: the room stamps her identity and routes to the destination.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    alice
        .register_rpc_method("note", move |d: RpcInvocationData| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(d.caller_identity);
                Ok(String::new())
            }
        })
        .unwrap();
    let mut packet = proto::reliable_packet(
        vec!["alice".into()],
        data_packet::Value::RpcRequest(proto::RpcRequest {
            id: "r1".into(),
            method: "note".into(),
            version: 1,
            response_timeout_ms: 8000,
            ..Default::default()
        }),
    );
    packet.participant_identity = "forged".into();
    carol
        .write_all(&encode_frame(FRAME_DATA, &packet.encode_to_vec()))
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap(),
        "carol"
    );
    // ...and alice's answers come back as DATA frames, stamped with alice's identity.
    let (kind, body) = next_frame(&mut carol).await;
    assert_eq!(kind, FRAME_DATA);
    let ack = proto::DataPacket::decode(body.as_slice()).unwrap();
    assert_eq!(ack.participant_identity, "alice");
    assert_eq!(
        ack.value,
        Some(data_packet::Value::RpcAck(RpcAck {
            request_id: "r1".into()
        }))
    );

    // A join after ours is announced; closing a connection is leaving, announced too.
    let dave = bridge::connect(server.local_addr(), "dave", JoinOptions::default())
        .await
        .unwrap();
    loop {
        let (kind, body) = next_frame(&mut carol).await;
        if kind == FRAME_PARTICIPANT {
            let info = ParticipantInfo::decode(body.as_slice()).unwrap();
            assert_eq!(
                (info.identity.as_str(), info.state),
                ("dave", participant_info::State::Active as i32)
            );
            break;
        }
    }
    dave.leave().await;
    loop {
        let (kind, body) = next_frame(&mut carol).await;
        if kind == FRAME_PARTICIPANT {
            let info = ParticipantInfo::decode(body.as_slice()).unwrap();
            assert_eq!(
                (info.identity.as_str(), info.state),
                ("dave", participant_info::State::Disconnected as i32)
            );
            break;
        }
    }
    drop(carol);
    tokio::time::timeout(WAIT, async {
        while alice.remote_participant("carol").is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bridged_participants_call_each_other_with_large_payloads() {
    let room = MemoryRoom::new();
    let alice = room.join("alice").await.unwrap();
    alice
        .register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    for (name, protocol) in [("carol", 2), ("ed", 1), ("old", 0)] {
        let p = bridge::connect(
            server.local_addr(),
            name,
            JoinOptions {
                client_protocol: protocol,
                compression: protocol == 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        p.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
            .unwrap();
        p.wait_for_participant("alice", WAIT).await.unwrap();
        alice.wait_for_participant(name, WAIT).await.unwrap();
        let payload = if protocol >= 1 {
            support::incompressible_text(3_000_000, 5)
        } else {
            "small".into()
        };
        let call = |dest: &str| PerformRpcData {
            destination_identity: dest.into(),
            method: "echo".into(),
            payload: payload.clone(),
            ..Default::default()
        };
        assert_eq!(
            p.perform_rpc(call("alice")).await.unwrap(),
            payload,
            "{name} -> alice"
        );
        assert_eq!(
            alice.perform_rpc(call(name)).await.unwrap(),
            payload,
            "alice -> {name}"
        );
    }
}

#[tokio::test]
async fn second_join_with_same_identity_disconnects_the_older_connection() {
    let room = MemoryRoom::new();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut first = bridge_join(server.local_addr(), "carol", 2, vec![]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = bridge::connect(server.local_addr(), "carol", JoinOptions::default())
        .await
        .unwrap();
    assert_closed(&mut first).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(room.identities(), vec!["carol".to_string()]);
    assert!(second.is_connected());
}

#[tokio::test]
async fn bad_frames_close_only_the_offending_connection() {
    let room = MemoryRoom::new();
    let alice = room.join("alice").await.unwrap();
    alice
        .register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
        .unwrap();
    let server = bridge::serve_with(
        room.clone(),
        "127.0.0.1:0",
        BridgeConfig {
            join_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let bystander = bridge::connect(addr, "bystander", JoinOptions::default())
        .await
        .unwrap();
    bystander.wait_for_participant("alice", WAIT).await.unwrap();

    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "oversized frame",
            ((16u32 << 20) + 2).to_be_bytes().to_vec(),
            true,
        ),
        ("unknown frame type", encode_frame(0x7f, b"x"), true),
        (
            "garbage ATTRIBUTES body",
            encode_frame(FRAME_ATTRIBUTES, &[0xff, 0xff, 0xff]),
            true,
        ),
        (
            "garbage DATA body",
            encode_frame(FRAME_DATA, &[0xff, 0xff, 0xff]),
            true,
        ),
        ("empty frame", 0u32.to_be_bytes().to_vec(), true),
        (
            "truncated frame",
            {
                let mut f = encode_frame(FRAME_DATA, &[1, 2, 3, 4]);
                f.truncate(6);
                f
            },
            true,
        ),
        (
            "second JOIN on one connection",
            encode_frame(FRAME_JOIN, &[]),
            true,
        ),
        ("DATA before JOIN", encode_frame(FRAME_DATA, &[]), false),
        (
            "malformed JOIN",
            encode_frame(FRAME_JOIN, &[0x0a, 0xff]),
            false,
        ),
        ("JOIN that never comes", Vec::new(), false),
    ];
    for (what, bytes, after_join) in cases {
        let mut s = if after_join {
            bridge_join(addr, "mallory", 2, vec![]).await
        } else {
            TcpStream::connect(addr).await.unwrap()
        };
        s.write_all(&bytes).await.unwrap();
        if what == "truncated frame" {
            s.shutdown().await.unwrap();
        }
        assert_closed(&mut s).await;
        // Everyone else carries on.
        let reply = bystander
            .perform_rpc(PerformRpcData {
                destination_identity: "alice".into(),
                method: "echo".into(),
                payload: what.into(),
                ..Default::default()
            })
            .await;
        assert_eq!(reply.unwrap(), what, "after {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !room.identities().contains(&"mallory".to_string()),
            "after {what}"
        );
    }
}

#[tokio::test]
async fn two_processes_call_each_other_through_the_bridge() {
    // The example binary sits next to this test binary's directory (cargo builds examples
    // for `cargo test`).
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let peer = dir
        .join("examples")
        .join(format!("bridge_peer{}", std::env::consts::EXE_SUFFIX));
    if !peer.exists() {
        // Only `cargo test --workspace` builds examples; build it for a filtered run.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "livekit-typed-rpc",
                "--example",
                "bridge_peer",
            ])
            .status()
            .unwrap();
        assert!(
            status.success() && peer.exists(),
            "cannot build {}",
            peer.display()
        );
    }

    let mut host = tokio::process::Command::new(&peer)
        .arg("host")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(host.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line),
    )
    .await
    .unwrap()
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("LISTENING ")
        .expect("host prints its address")
        .to_owned();

    let guest = tokio::process::Command::new(&peer)
        .args(["guest", &addr])
        .output();
    let guest = tokio::time::timeout(Duration::from_secs(60), guest)
        .await
        .unwrap()
        .unwrap();
    let guest_out = String::from_utf8_lossy(&guest.stdout).to_string();
    assert!(
        guest.status.success(),
        "guest failed: {guest_out}{}",
        String::from_utf8_lossy(&guest.stderr)
    );
    let mut host_out = String::new();
    tokio::time::timeout(Duration::from_secs(30), out.read_to_string(&mut host_out))
        .await
        .unwrap()
        .unwrap();
    let status = host.wait().await.unwrap();
    assert!(status.success(), "host failed: {host_out}");
    assert!(
        guest_out.contains("guest got: hello guest, this is host"),
        "{guest_out}"
    );
    assert!(
        guest_out.contains("guest was called by host"),
        "{guest_out}"
    );
    assert!(
        host_out.contains("host got: hello host, this is guest"),
        "{host_out}"
    );
    assert!(host_out.contains("host was called by guest"), "{host_out}");
    // Two different processes answered.
    let pid = |s: &str| {
        s.split("(pid ")
            .nth(1)
            .map(|r| r.split(')').next().unwrap_or("").to_owned())
    };
    assert_ne!(pid(&guest_out), pid(&host_out));
}

fn attributes_frame(pairs: &[(&str, &str)]) -> Vec<u8> {
    let update = UpdateParticipantMetadata {
        attributes: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    encode_frame(FRAME_ATTRIBUTES, &update.encode_to_vec())
}

#[tokio::test]
async fn attribute_updates_over_the_limit_are_refused_and_the_connection_stays() {
    let room = MemoryRoom::new();
    let alice = room.join("alice").await.unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut mallory = bridge_join(server.local_addr(), "mallory", 2, vec![]).await;
    alice.wait_for_participant("mallory", WAIT).await.unwrap();

    // 70 KiB in one update, then an empty key: both refused as LiveKit refuses them.
    let big = "x".repeat(70 * 1024);
    mallory
        .write_all(&attributes_frame(&[("photo", &big)]))
        .await
        .unwrap();
    mallory
        .write_all(&attributes_frame(&[("", "v")]))
        .await
        .unwrap();
    // The connection stays, and a good update after them is applied.
    mallory
        .write_all(&attributes_frame(&[("status", "ok")]))
        .await
        .unwrap();
    let seen = alice
        .wait_for_remotes(WAIT, |remotes| {
            remotes
                .iter()
                .find(|r| r.identity == "mallory" && r.attributes.contains_key("status"))
                .map(|r| r.attributes.clone())
        })
        .await
        .expect("the good update arrives");
    assert_eq!(seen.len(), 1, "only the good update was applied: {seen:?}");
    assert!(room.identities().contains(&"mallory".to_string()));
}
