//! A bridge that requires LiveKit access tokens: identity, kind and attributes come from
//! the verified token; bad, expired, wrong-secret or grantless tokens close that connection
//! with the reason; a bridge without keys still admits clients that send none. And
//! `connect` returns once the room's participants are known.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use livekit_api::access_token::{AccessToken, VideoGrants};
use livekit_typed_rpc::bridge::{
    self, encode_frame, read_frame, BridgeAuth, BridgeConfig, FRAME_CLOSE, FRAME_JOIN,
    FRAME_JOINED, FRAME_TOKEN,
};
use livekit_typed_rpc::proto::{Message, ParticipantInfo};
use livekit_typed_rpc::{
    CallerPolicy, Error, JoinOptions, MemoryRoom, ParticipantKind, PerformRpcData,
    RpcInvocationData,
};
use tokio::io::AsyncWriteExt;

const KEY: &str = "devkey";
const SECRET: &str = "a-secret-of-at-least-32-characters!";
const WAIT: Duration = Duration::from_secs(5);

fn grant(room: &str) -> VideoGrants {
    VideoGrants {
        room_join: true,
        room: room.into(),
        ..Default::default()
    }
}

fn token(identity: &str, kind: &str, secret: &str) -> String {
    AccessToken::with_api_key(KEY, secret)
        .with_identity(identity)
        .with_kind(kind)
        .with_attributes([("role", "operator")])
        .with_grants(grant("lab"))
        .to_jwt()
        .unwrap()
}

/// An HS256 JWT with exactly these claims (to make ones LiveKit's builder will not).
fn signed(claims: serde_json::Value) -> String {
    fn b64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
    let head = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64url(claims.to_string().as_bytes());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", b64url(&mac.finalize().into_bytes()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn auth_bridge(room: &MemoryRoom) -> bridge::BridgeServer {
    let config = BridgeConfig {
        auth: Some(BridgeAuth::new(KEY, SECRET).for_room("lab")),
        ..Default::default()
    };
    bridge::serve_with(room.clone(), "127.0.0.1:0", config)
        .await
        .unwrap()
}

fn refusal(result: Result<livekit_typed_rpc::Participant, Error>) -> String {
    match result {
        Err(Error::Bridge(reason)) => reason,
        Err(other) => panic!("unexpected error {other}"),
        Ok(p) => panic!("{} was admitted", p.identity()),
    }
}

#[tokio::test]
async fn identity_kind_and_attributes_come_from_the_token() {
    let room = MemoryRoom::new();
    let robot = room.join("robot").await.unwrap();
    robot
        .register_rpc_method_with_policy(
            "stop",
            CallerPolicy::kind(ParticipantKind::Agent)
                .and(CallerPolicy::attribute("role", "operator")),
            |d: RpcInvocationData| async move { Ok(d.caller_identity) },
        )
        .unwrap();
    let server = auth_bridge(&room).await;

    // The JOIN claims to be someone else and standard; the token says agent-7, an agent.
    let mut raw = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let join = ParticipantInfo {
        identity: "robot-admin".into(),
        client_protocol: 2,
        ..Default::default()
    };
    let mut hello = encode_frame(FRAME_TOKEN, token("agent-7", "agent", SECRET).as_bytes());
    hello.extend(encode_frame(FRAME_JOIN, &join.encode_to_vec()));
    raw.write_all(&hello).await.unwrap();
    let seen = robot.wait_for_participant("agent-7", WAIT).await.unwrap();
    assert_eq!(seen.kind, ParticipantKind::Agent);
    assert_eq!(
        seen.attributes.get("role").map(String::as_str),
        Some("operator")
    );
    assert!(robot.remote_participant("robot-admin").is_none());
    loop {
        let (kind, body) = read_frame(&mut raw).await.unwrap();
        if kind == FRAME_JOINED {
            let me = ParticipantInfo::decode(body.as_slice()).unwrap();
            assert_eq!(me.identity, "agent-7");
            assert_eq!(me.kind, ParticipantKind::Agent as i32);
            break;
        }
    }
    drop(raw);

    // Through the client API, the token's agent is allowed and a standard user is not.
    let agent = bridge::connect_with_token(
        server.local_addr(),
        &token("agent-8", "agent", SECRET),
        JoinOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(agent.identity(), "agent-8");
    assert_eq!(agent.join_options().kind, ParticipantKind::Agent);
    let user = bridge::connect_with_token(
        server.local_addr(),
        &token("user", "standard", SECRET),
        JoinOptions::default(),
    )
    .await
    .unwrap();
    let call = PerformRpcData {
        destination_identity: "robot".into(),
        method: "stop".into(),
        ..Default::default()
    };
    assert_eq!(agent.perform_rpc(call.clone()).await.unwrap(), "agent-8");
    assert_eq!(user.perform_rpc(call).await.unwrap_err().code, 1400);
}

#[tokio::test]
async fn bad_tokens_close_the_connection_with_the_reason() {
    let room = MemoryRoom::new();
    let _robot = room.join("robot").await.unwrap();
    let server = auth_bridge(&room).await;
    let addr = server.local_addr();
    let join = |t: String| async move {
        bridge::connect_with_token(addr, &t, JoinOptions::default()).await
    };

    let reason = refusal(join("not-a-jwt".into()).await);
    assert!(reason.contains("access token rejected"), "{reason}");

    let reason = refusal(join(token("eve", "", "another-secret-of-32-characters-long")).await);
    assert!(reason.contains("access token rejected"), "{reason}");
    assert!(reason.to_lowercase().contains("signature"), "{reason}");

    let expired = signed(serde_json::json!({
        "iss": KEY, "sub": "late", "nbf": now() - 7200, "exp": now() - 3600,
        "video": {"roomJoin": true, "room": "lab"}
    }));
    let reason = refusal(join(expired).await);
    assert!(reason.to_lowercase().contains("expired"), "{reason}");

    let no_grant = signed(serde_json::json!({
        "iss": KEY, "sub": "nosy", "nbf": now() - 10, "exp": now() + 3600,
        "video": {"roomList": true}
    }));
    let reason = refusal(join(no_grant).await);
    assert!(reason.contains("no roomJoin grant"), "{reason}");

    let other_room = signed(serde_json::json!({
        "iss": KEY, "sub": "lost", "nbf": now() - 10, "exp": now() + 3600,
        "video": {"roomJoin": true, "room": "kitchen"}
    }));
    let reason = refusal(join(other_room).await);
    assert!(reason.contains("\"kitchen\""), "{reason}");

    // No token at all.
    let reason = refusal(bridge::connect(addr, "anonymous", JoinOptions::default()).await);
    assert!(
        reason.contains("requires a LiveKit access token"),
        "{reason}"
    );

    // Raw: the refusal is a CLOSE frame, then the connection ends.
    let mut raw = support::bridge_join(addr, "anonymous", 2, vec![]).await;
    let (kind, body) = tokio::time::timeout(WAIT, read_frame(&mut raw))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind, FRAME_CLOSE);
    assert!(String::from_utf8(body).unwrap().contains("access token"));
    assert!(read_frame(&mut raw).await.is_err());

    // None of them got in; a valid token still does.
    assert_eq!(room.identities(), vec!["robot".to_string()]);
    let ok = join(token("fine", "", SECRET)).await.unwrap();
    assert_eq!(ok.identity(), "fine");
}

#[tokio::test]
async fn a_bridge_without_keys_admits_clients_without_tokens() {
    let room = MemoryRoom::new();
    let _robot = room.join("robot").await.unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let plain = bridge::connect(
        server.local_addr(),
        "plain",
        JoinOptions {
            kind: ParticipantKind::Agent,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(plain.identity(), "plain");
    // A token sent anyway is not checked: the JOIN's identity (the token's sub) is used.
    let tokened = bridge::connect_with_token(
        server.local_addr(),
        &token("tokened", "", "unchecked-secret-unchecked-secret"),
        JoinOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(tokened.identity(), "tokened");
    let seen = room
        .participants()
        .into_iter()
        .find(|p| p.identity == "plain")
        .unwrap();
    assert_eq!(seen.kind, ParticipantKind::Agent);
}

/// `connect` returns knowing everyone present: no `wait_for_participant` needed first.
#[tokio::test]
async fn connect_returns_once_the_participants_are_known() {
    let room = MemoryRoom::new();
    let mut present = Vec::new();
    for i in 0..20 {
        present.push(room.join(&format!("p{i:02}")).await.unwrap());
    }
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    for _ in 0..5 {
        let late = bridge::connect(server.local_addr(), "late", JoinOptions::default())
            .await
            .unwrap();
        let known: Vec<String> = late
            .remote_participants()
            .into_iter()
            .map(|r| r.identity)
            .collect();
        let expected: Vec<String> = (0..20).map(|i| format!("p{i:02}")).collect();
        assert_eq!(known, expected);
        late.leave().await;
    }
}
