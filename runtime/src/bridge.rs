//! The room wire bridge: a [`MemoryRoom`] served over TCP so other processes (the
//! JavaScript SDK in the interop tests, another Rust process) join it.
//!
//! A frame is a `u32` big-endian length `L`, then `L` bytes: one type byte and a protobuf
//! body. `0x01` JOIN (client → room, first frame): `livekit.ParticipantInfo` with
//! `identity`, `client_protocol`, `capabilities`. `0x02` PARTICIPANT (room → client): the
//! `ParticipantInfo` of another participant, `state = ACTIVE` for each one present right
//! after JOIN and whenever one joins, `state = DISCONNECTED` when one leaves. `0x03` DATA
//! (both ways): a `livekit.DataPacket`; the room stamps `participant_identity` and delivers
//! it to `destination_identities` (empty: everyone else), in order, never back to the sender.
//! Closing the connection is leaving; a second JOIN with an identity already present
//! disconnects the older connection; a frame over 16 MiB, a malformed frame or an unknown
//! type closes that connection only.
//!
//! Added since (older clients ignore room → client types they do not know):
//! `0x04` JOINED (room → client): the joined participant's own `ParticipantInfo` as the room
//! admitted it (`sid`, `identity`, `kind`, `attributes`, ...), sent right after the
//! PARTICIPANT frames of everyone already present, so a client that has it knows the room.
//! `0x05` TOKEN (client → room, optional, only as the very first frame, then JOIN): a
//! LiveKit access token as UTF-8. A bridge configured with an API key and secret
//! ([`BridgeAuth`]) requires it and takes identity, kind and attributes from the verified
//! token, not from JOIN. `0x06` CLOSE (room → client): a UTF-8 reason, sent just before the
//! room closes a connection it refused or replaced.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use livekit_token::{AccessTokenError, Claims, TokenVerifier};

use crate::error::Error;
use crate::participant::Participant;
use crate::proto::{
    self, participant_info, DataPacket, Message, ParticipantInfo, UpdateParticipantMetadata,
};
use crate::room::{
    BoxFuture, Connection, JoinOptions, MemoryRoom, ParticipantKind, RemoteParticipant,
    RemoteRegistry, RoomEvent, Transport, TransportError,
};

/// Frame type: the first frame a client sends.
pub const FRAME_JOIN: u8 = 0x01;
/// Frame type: another participant joined or left.
pub const FRAME_PARTICIPANT: u8 = 0x02;
/// Frame type: a data packet.
pub const FRAME_DATA: u8 = 0x03;
/// Frame type: the room admitted the client; its own `ParticipantInfo`.
pub const FRAME_JOINED: u8 = 0x04;
/// Frame type: a LiveKit access token, sent before JOIN.
pub const FRAME_TOKEN: u8 = 0x05;
/// Frame type: why the room is closing the connection.
pub const FRAME_CLOSE: u8 = 0x06;
/// Largest frame either side accepts.
/// Client -> room: a `livekit.UpdateParticipantMetadata` whose `attributes` are merged
/// into the client's (an empty value deletes a key); the others get a PARTICIPANT frame.
pub const FRAME_ATTRIBUTES: u8 = 0x07;
/// The largest frame body, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// How long the room waits for a new connection's JOIN by default.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How a bridge treats its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// A connection that sends no JOIN within this time is closed (default 10 s).
    pub join_timeout: Duration,
    /// Require LiveKit access tokens (default `None`: anyone who can connect may join as
    /// whoever its JOIN claims to be).
    pub auth: Option<BridgeAuth>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            join_timeout: JOIN_TIMEOUT,
            auth: None,
        }
    }
}

/// The API key and secret a bridge checks access tokens with, as livekit-server does: an
/// HS256 JWT issued by `api_key`, signed with `api_secret`, not expired, with a
/// `roomJoin` grant (and, with [`BridgeAuth::for_room`], that room's name). The joining
/// participant's identity (`sub`), kind and attributes are the token's.
///
/// ```
/// use livekit_typed_rpc::bridge::BridgeAuth;
/// let auth = BridgeAuth::new("devkey", "a-secret-of-at-least-32-characters!").for_room("lab");
/// assert!(!format!("{auth:?}").contains("a-secret")); // Debug never shows the secret
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BridgeAuth {
    api_key: String,
    api_secret: String,
    room: Option<String>,
}

impl BridgeAuth {
    /// Checks tokens against this API key and secret.
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            room: None,
        }
    }

    /// Also requires the token's `room` grant to name this room.
    pub fn for_room(mut self, room: impl Into<String>) -> Self {
        self.room = Some(room.into());
        self
    }

    /// Who the token says joins, or why it may not.
    fn admit(&self, token: &str) -> Result<ParticipantInfo, String> {
        let claims = TokenVerifier::with_api_key(&self.api_key, &self.api_secret)
            .verify(token)
            .map_err(|e| format!("access token rejected: {}", token_problem(&e)))?;
        if !claims.video.room_join {
            return Err("access token has no roomJoin grant".into());
        }
        if let Some(room) = &self.room {
            if &claims.video.room != room {
                return Err(format!(
                    "access token is for room {:?}, this bridge serves {room:?}",
                    claims.video.room
                ));
            }
        }
        if claims.sub.is_empty() {
            return Err("access token has no identity (sub)".into());
        }
        let kind = match claims.kind.as_str() {
            "" => ParticipantKind::Standard,
            name => ParticipantKind::from_str_name(&name.to_ascii_uppercase())
                .ok_or_else(|| format!("access token has an unknown participant kind {name:?}"))?,
        };
        Ok(ParticipantInfo {
            identity: claims.sub,
            kind: kind as i32,
            attributes: claims.attributes,
            ..Default::default()
        })
    }
}

/// Why LiveKit's verifier refused a token, in words (its own message says "failed to
/// encode jwt" for every decoding failure).
fn token_problem(error: &AccessTokenError) -> String {
    let AccessTokenError::Encoding(jwt) = error else {
        return error.to_string();
    };
    match jwt.to_string().as_str() {
        "ExpiredSignature" => "it has expired".into(),
        "ImmatureSignature" => "it is not valid yet (nbf)".into(),
        "InvalidSignature" => "its signature does not match this bridge's API secret".into(),
        "InvalidIssuer" => "it was issued for another API key".into(),
        other => format!("it is not a valid LiveKit token ({other})"),
    }
}

impl std::fmt::Debug for BridgeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeAuth")
            .field("api_key", &self.api_key)
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The connection failed or closed inside a frame.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The announced length exceeds [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the 16 MiB limit")]
    TooLarge(usize),
    /// A zero-length frame has no type byte.
    #[error("empty frame")]
    Empty,
}

/// Reads one frame: its type byte and body.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<(u8, Vec<u8>), FrameError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    let kind = body.remove(0);
    Ok((kind, body))
}

/// Encodes one frame.
pub fn encode_frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.extend_from_slice(&((body.len() + 1) as u32).to_be_bytes());
    frame.push(kind);
    frame.extend_from_slice(body);
    frame
}

/// A running bridge; dropping it stops accepting and closes every bridged connection.
pub struct BridgeServer {
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl BridgeServer {
    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for BridgeServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Serves `room` on `addr` (use port 0 for any free port).
///
/// It binds exactly where it is told: `127.0.0.1:0` (as in the examples) takes only local
/// processes, while `0.0.0.0:PORT` lets anyone who can reach the machine join, so outside
/// loopback configure [`BridgeConfig::auth`] with [`serve_with`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use livekit_typed_rpc::{bridge, JoinOptions, MemoryRoom};
/// use std::time::Duration;
/// let room = MemoryRoom::new();
/// let alice = room.join("alice").await?;
/// let server = bridge::serve(room.clone(), "127.0.0.1:0").await?;
/// let carol = bridge::connect(server.local_addr(), "carol", JoinOptions::default()).await?;
/// assert!(carol.wait_for_participant("alice", Duration::from_secs(5)).await.is_some());
/// assert!(alice.wait_for_participant("carol", Duration::from_secs(5)).await.is_some());
/// # Ok(()) }
/// ```
pub async fn serve(room: MemoryRoom, addr: impl ToSocketAddrs) -> Result<BridgeServer, Error> {
    serve_with(room, addr, BridgeConfig::default()).await
}

/// [`serve`] with explicit settings.
pub async fn serve_with(
    room: MemoryRoom,
    addr: impl ToSocketAddrs,
    config: BridgeConfig,
) -> Result<BridgeServer, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Bridge(format!("cannot listen: {e}")))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| Error::Bridge(e.to_string()))?;
    let accept = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let room = room.clone();
                        let config = config.clone();
                        connections.spawn(async move {
                            if let Err(e) = serve_connection(room, stream, &config).await {
                                tracing::info!(%peer, error = %e, "bridge connection closed");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "bridge accept failed"),
                },
                Some(_) = connections.join_next() => {}
            }
        }
    });
    Ok(BridgeServer { local_addr, accept })
}

fn join_options(info: &ParticipantInfo) -> JoinOptions {
    JoinOptions {
        client_protocol: info.client_protocol,
        compression: info
            .capabilities
            .contains(&proto::CAP_COMPRESSION_DEFLATE_RAW),
        kind: ParticipantKind::try_from(info.kind).unwrap_or(ParticipantKind::Standard),
        attributes: info.attributes.clone(),
        ..Default::default()
    }
}

async fn read_join_frame(
    reader: &mut (impl AsyncRead + Unpin),
    timeout: Duration,
) -> Result<(u8, Vec<u8>), String> {
    tokio::time::timeout(timeout, read_frame(reader))
        .await
        .map_err(|_| format!("no JOIN within {timeout:?}"))?
        .map_err(|e| e.to_string())
}

/// Reads the optional TOKEN and the JOIN, and decides who joins.
async fn read_join(
    reader: &mut (impl AsyncRead + Unpin),
    config: &BridgeConfig,
) -> Result<ParticipantInfo, String> {
    let (mut kind, mut body) = read_join_frame(reader, config.join_timeout).await?;
    let mut token = None;
    if kind == FRAME_TOKEN {
        token = Some(String::from_utf8(body).map_err(|_| "TOKEN frame is not UTF-8".to_owned())?);
        (kind, body) = read_join_frame(reader, config.join_timeout).await?;
    }
    if kind != FRAME_JOIN {
        return Err(format!("expected JOIN, got a frame of type {kind:#04x}"));
    }
    let mut info =
        ParticipantInfo::decode(body.as_slice()).map_err(|e| format!("malformed JOIN: {e}"))?;
    match (&config.auth, token) {
        (Some(auth), Some(token)) => {
            let admitted = auth.admit(&token)?;
            info.identity = admitted.identity;
            info.kind = admitted.kind;
            info.attributes = admitted.attributes;
        }
        (Some(_), None) => {
            return Err(
                "this bridge requires a LiveKit access token (a TOKEN frame before JOIN)".into(),
            )
        }
        (None, Some(_)) => {
            tracing::info!(identity = %info.identity, "TOKEN ignored: this bridge checks no tokens");
        }
        (None, None) => {}
    }
    Ok(info)
}

fn participant_frame(remote: &RemoteParticipant, state: participant_info::State) -> Vec<u8> {
    encode_frame(FRAME_PARTICIPANT, &remote.to_info(state).encode_to_vec())
}

/// Tells the client why, then closes the connection.
async fn refuse(writer: &mut (impl AsyncWriteExt + Unpin), reason: String) -> Result<(), String> {
    tracing::warn!(reason, "bridge join refused");
    let _ = writer
        .write_all(&encode_frame(FRAME_CLOSE, reason.as_bytes()))
        .await;
    let _ = writer.shutdown().await;
    Err(format!("join refused: {reason}"))
}

/// One bridged participant: the room side of its TCP connection.
async fn serve_connection(
    room: MemoryRoom,
    stream: TcpStream,
    config: &BridgeConfig,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let info = match read_join(&mut reader, config).await {
        Ok(info) => info,
        Err(reason) => return refuse(&mut writer, reason).await,
    };
    let conn = match room.connect(&info.identity, join_options(&info)) {
        Ok(conn) => conn,
        Err(e) => return refuse(&mut writer, e.to_string()).await,
    };
    let identity = conn.identity.clone();
    let transport = conn.transport.clone();
    tracing::info!(
        identity,
        protocol = info.client_protocol,
        "joined over the bridge"
    );

    // Room -> client. The present participants go first, then events in order.
    let mut known: HashMap<String, RemoteParticipant> = HashMap::new();
    let mut initial = Vec::new();
    for remote in conn.remotes.all() {
        initial.extend(participant_frame(&remote, participant_info::State::Active));
        known.insert(remote.identity.clone(), remote);
    }
    if let Some(me) = room
        .participants()
        .into_iter()
        .find(|p| p.identity == identity)
    {
        let info = me.to_info(participant_info::State::Active);
        initial.extend(encode_frame(FRAME_JOINED, &info.encode_to_vec()));
    }
    let mut events = conn.events;
    let to_client = async move {
        writer.write_all(&initial).await?;
        while let Some(event) = events.recv().await {
            let frame = match event {
                RoomEvent::Data(packet) => encode_frame(FRAME_DATA, &packet.encode_to_vec()),
                RoomEvent::ParticipantJoined(remote) => {
                    let frame = participant_frame(&remote, participant_info::State::Active);
                    known.insert(remote.identity.clone(), remote);
                    frame
                }
                RoomEvent::ParticipantLeft(identity) => {
                    let remote = known
                        .remove(&identity)
                        .unwrap_or_else(|| RemoteParticipant::with_identity(identity));
                    participant_frame(&remote, participant_info::State::Disconnected)
                }
                // An update is the participant's PARTICIPANT frame again, as LiveKit
                // sends a ParticipantUpdate with the whole ParticipantInfo.
                RoomEvent::ParticipantUpdated(remote) => {
                    let frame = participant_frame(&remote, participant_info::State::Active);
                    known.insert(remote.identity.clone(), remote);
                    frame
                }
                // A MemoryRoom link never breaks and comes back.
                RoomEvent::ConnectionLost(_) | RoomEvent::Reconnected => continue,
            };
            writer.write_all(&frame).await?;
        }
        // The room dropped us (a newer JOIN took the identity): close the connection.
        let reason = "another connection joined with the same identity";
        writer
            .write_all(&encode_frame(FRAME_CLOSE, reason.as_bytes()))
            .await?;
        writer.shutdown().await
    };

    // Client -> room.
    let from_client = async {
        loop {
            let (kind, body) = read_frame(&mut reader).await.map_err(|e| e.to_string())?;
            match kind {
                FRAME_DATA => {
                    let packet = DataPacket::decode(body.as_slice())
                        .map_err(|e| format!("malformed DATA frame: {e}"))?;
                    if let Err(e) = transport.publish(packet).await {
                        return Err::<(), String>(format!("cannot publish: {e}"));
                    }
                }
                FRAME_ATTRIBUTES => {
                    let update = UpdateParticipantMetadata::decode(body.as_slice())
                        .map_err(|e| format!("malformed ATTRIBUTES frame: {e}"))?;
                    // LiveKit refuses such an update and keeps the connection: so do we.
                    if let Err(e) = transport.set_attributes(update.attributes) {
                        tracing::warn!(identity, error = %e, "attribute update refused");
                    }
                }
                other => return Err(format!("unexpected frame type {other:#04x}")),
            }
        }
    };

    let result = tokio::select! {
        r = to_client => r.map_err(|e| e.to_string()),
        r = from_client => r,
    };
    transport.leave();
    tracing::info!(identity, "left the bridge");
    result
}

/// The client side of a bridged connection.
struct BridgeTransport {
    frames: mpsc::UnboundedSender<Vec<u8>>,
}

impl Transport for BridgeTransport {
    fn publish(&self, packet: DataPacket) -> BoxFuture<'_, Result<(), TransportError>> {
        let frame = encode_frame(FRAME_DATA, &packet.encode_to_vec());
        let result = if frame.len() - 4 > MAX_FRAME_BYTES {
            Err(TransportError::MessageTooLarge {
                size: frame.len() - 4,
                max: MAX_FRAME_BYTES,
            })
        } else {
            self.frames
                .send(frame)
                .map_err(|_| TransportError::Disconnected)
        };
        Box::pin(async move { result })
    }

    fn leave(&self) {
        // Closing the queue makes the writer shut the connection down: leaving.
        let _ = self.frames.send(Vec::new());
    }

    fn set_attributes(&self, changes: HashMap<String, String>) -> Result<(), TransportError> {
        let update = UpdateParticipantMetadata {
            attributes: changes,
            ..Default::default()
        };
        self.frames
            .send(encode_frame(FRAME_ATTRIBUTES, &update.encode_to_vec()))
            .map_err(|_| TransportError::Disconnected)
    }
}

/// Joins the room served at `addr` as `identity`, from any process. Returns once the room
/// has admitted us and told us everyone already present, so
/// [`Participant::remote_participants`] is complete on return.
pub async fn connect(
    addr: SocketAddr,
    identity: &str,
    options: JoinOptions,
) -> Result<Participant, Error> {
    Ok(Participant::new(
        connect_raw(addr, identity, options).await?,
    ))
}

/// Joins with a LiveKit access token, as a bridge configured with [`BridgeAuth`] requires:
/// identity, kind and attributes are the token's (the participant's
/// [`Participant::identity`] is what the room admitted). A refused token is an
/// [`Error::Bridge`] carrying the room's reason.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use livekit_token::{AccessToken, VideoGrants};
/// use livekit_typed_rpc::bridge::{self, BridgeAuth, BridgeConfig};
/// use livekit_typed_rpc::{JoinOptions, MemoryRoom, ParticipantKind};
/// let secret = "a-secret-of-at-least-32-characters!";
/// let config = BridgeConfig { auth: Some(BridgeAuth::new("devkey", secret)), ..Default::default() };
/// let server = bridge::serve_with(MemoryRoom::new(), "127.0.0.1:0", config).await?;
/// let token = AccessToken::with_api_key("devkey", secret)
///     .with_identity("agent-7")
///     .with_kind("agent")
///     .with_grants(VideoGrants { room_join: true, room: "lab".into(), ..Default::default() })
///     .to_jwt()?;
/// let agent = bridge::connect_with_token(server.local_addr(), &token, JoinOptions::default()).await?;
/// assert_eq!(agent.identity(), "agent-7");
/// assert_eq!(agent.join_options().kind, ParticipantKind::Agent);
/// # Ok(()) }
/// ```
pub async fn connect_with_token(
    addr: SocketAddr,
    token: &str,
    options: JoinOptions,
) -> Result<Participant, Error> {
    Ok(Participant::new(
        link(addr, Claimed::Token(token), options).await?,
    ))
}

/// Joins without a participant on top: the raw link (for tools and tests).
pub async fn connect_raw(
    addr: SocketAddr,
    identity: &str,
    options: JoinOptions,
) -> Result<Connection, Error> {
    if identity.is_empty() {
        return Err(Error::InvalidIdentity(identity.to_owned()));
    }
    link(addr, Claimed::Identity(identity), options).await
}

/// Who a client says it is: an identity in JOIN, or a token the room verifies.
enum Claimed<'a> {
    Identity(&'a str),
    Token(&'a str),
}

/// What the client's reader learns before the room admits it.
struct JoinAccepted {
    me: ParticipantInfo,
    early_events: Vec<RoomEvent>,
}

/// Reads PARTICIPANT frames until JOINED (admitted) or CLOSE (refused).
async fn await_admission(
    reader: &mut (impl AsyncRead + Unpin),
    registry: &RemoteRegistry,
) -> Result<JoinAccepted, Error> {
    let mut early_events = Vec::new();
    loop {
        let (kind, body) = read_frame(reader).await.map_err(|e| {
            Error::Bridge(format!(
                "the room closed the connection before admitting us: {e}"
            ))
        })?;
        match kind {
            FRAME_JOINED => {
                let me = ParticipantInfo::decode(body.as_slice())
                    .map_err(|e| Error::Bridge(format!("malformed JOINED frame: {e}")))?;
                return Ok(JoinAccepted { me, early_events });
            }
            FRAME_CLOSE => {
                return Err(Error::Bridge(format!(
                    "the room refused the join: {}",
                    String::from_utf8_lossy(&body)
                )))
            }
            _ => match room_event(kind, &body, registry) {
                Ok(Some(event)) => early_events.push(event),
                Ok(None) => {}
                Err(e) => return Err(Error::Bridge(e)),
            },
        }
    }
}

/// A room → client frame as an event; `None` for types this client does not know (or
/// does not need after admission), which it ignores as the protocol asks.
fn room_event(
    kind: u8,
    body: &[u8],
    registry: &RemoteRegistry,
) -> Result<Option<RoomEvent>, String> {
    match kind {
        FRAME_DATA => DataPacket::decode(body)
            .map(|packet| Some(RoomEvent::Data(Box::new(packet))))
            .map_err(|e| format!("malformed DATA frame from the room: {e}")),
        FRAME_PARTICIPANT => match ParticipantInfo::decode(body) {
            Ok(info) if info.state == participant_info::State::Disconnected as i32 => {
                registry.remove(&info.identity);
                Ok(Some(RoomEvent::ParticipantLeft(info.identity)))
            }
            Ok(info) => {
                let remote = RemoteParticipant::from_info(&info);
                let known = registry.contains(&remote.identity);
                registry.insert(remote.clone());
                Ok(Some(if known {
                    RoomEvent::ParticipantUpdated(remote)
                } else {
                    RoomEvent::ParticipantJoined(remote)
                }))
            }
            Err(e) => Err(format!("malformed PARTICIPANT frame from the room: {e}")),
        },
        other => {
            tracing::debug!(
                kind = other,
                "room frame of a type this client does not know ignored"
            );
            Ok(None)
        }
    }
}

async fn link(
    addr: SocketAddr,
    claimed: Claimed<'_>,
    options: JoinOptions,
) -> Result<Connection, Error> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Bridge(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let mut hello = Vec::new();
    let identity = match claimed {
        Claimed::Identity(identity) => identity.to_owned(),
        Claimed::Token(token) => {
            hello.extend(encode_frame(FRAME_TOKEN, token.as_bytes()));
            // The room takes the identity from the token; JOIN names it for rooms that
            // check no tokens.
            Claims::from_unverified(token)
                .map(|claims| claims.sub)
                .unwrap_or_default()
        }
    };
    let join = ParticipantInfo {
        identity,
        client_protocol: options.client_protocol,
        capabilities: options.capabilities(),
        kind: options.kind as i32,
        attributes: options.attributes.clone(),
        ..Default::default()
    };
    hello.extend(encode_frame(FRAME_JOIN, &join.encode_to_vec()));
    writer
        .write_all(&hello)
        .await
        .map_err(|e| Error::Bridge(format!("cannot send JOIN: {e}")))?;

    let remotes = RemoteRegistry::default();
    let admission = tokio::time::timeout(JOIN_TIMEOUT, await_admission(&mut reader, &remotes))
        .await
        .map_err(|_| {
            Error::Bridge(format!(
                "the room at {addr} did not admit us within {JOIN_TIMEOUT:?} (a bridge older than the JOINED frame?)"
            ))
        })??;
    let me = RemoteParticipant::from_info(&admission.me);
    let identity = me.identity.clone();
    let options = JoinOptions {
        kind: me.kind,
        attributes: me.attributes,
        ..options
    };

    let (frames_tx, mut frames_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(frame) = frames_rx.recv().await {
            if frame.is_empty() || writer.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    for event in admission.early_events {
        let _ = events_tx.send(event);
    }
    let registry = remotes.clone();
    let me = me.identity.clone();
    tokio::spawn(async move {
        loop {
            let (kind, body) = match read_frame(&mut reader).await {
                Ok(frame) => frame,
                Err(e) => {
                    tracing::info!(identity = %me, error = %e, "bridge link closed");
                    break;
                }
            };
            if kind == FRAME_CLOSE {
                tracing::info!(identity = %me, reason = %String::from_utf8_lossy(&body), "the room closed the link");
                break;
            }
            let event = match room_event(kind, &body, &registry) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(identity = %me, error = %e, "closing the bridge link");
                    break;
                }
            };
            if events_tx.send(event).is_err() {
                break;
            }
        }
        registry.clear();
    });

    Ok(Connection {
        identity,
        options,
        transport: Arc::new(BridgeTransport { frames: frames_tx }),
        events: events_rx,
        remotes,
        server_version: None,
    })
}
