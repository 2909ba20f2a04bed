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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::participant::Participant;
use crate::proto::{self, participant_info, DataPacket, Message, ParticipantInfo};
use crate::room::{
    BoxFuture, Connection, JoinOptions, MemoryRoom, RemoteParticipant, RemoteRegistry, RoomEvent,
    Transport, TransportError,
};

/// Frame type: the first frame a client sends.
pub const FRAME_JOIN: u8 = 0x01;
/// Frame type: another participant joined or left.
pub const FRAME_PARTICIPANT: u8 = 0x02;
/// Frame type: a data packet.
pub const FRAME_DATA: u8 = 0x03;
/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// How long the room waits for a new connection's JOIN by default.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How a bridge treats its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// A connection that sends no JOIN within this time is closed (default 10 s).
    pub join_timeout: Duration,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            join_timeout: JOIN_TIMEOUT,
        }
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
                        let join_timeout = config.join_timeout;
                        connections.spawn(async move {
                            if let Err(e) = serve_connection(room, stream, join_timeout).await {
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
        ..Default::default()
    }
}

fn participant_frame(remote: &RemoteParticipant, state: participant_info::State) -> Vec<u8> {
    encode_frame(FRAME_PARTICIPANT, &remote.to_info(state).encode_to_vec())
}

/// One bridged participant: the room side of its TCP connection.
async fn serve_connection(
    room: MemoryRoom,
    stream: TcpStream,
    join_timeout: Duration,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (kind, body) = tokio::time::timeout(join_timeout, read_frame(&mut reader))
        .await
        .map_err(|_| format!("no JOIN within {join_timeout:?}"))?
        .map_err(|e| e.to_string())?;
    if kind != FRAME_JOIN {
        return Err(format!("first frame has type {kind:#04x}, expected JOIN"));
    }
    let info =
        ParticipantInfo::decode(body.as_slice()).map_err(|e| format!("malformed JOIN: {e}"))?;
    let conn = room
        .connect(&info.identity, join_options(&info))
        .map_err(|e| e.to_string())?;
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
                    let remote = known.remove(&identity).unwrap_or(RemoteParticipant {
                        identity,
                        sid: String::new(),
                        client_protocol: 0,
                        capabilities: Vec::new(),
                    });
                    participant_frame(&remote, participant_info::State::Disconnected)
                }
            };
            writer.write_all(&frame).await?;
        }
        // The room dropped us (a newer JOIN took the identity): close the connection.
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
}

/// Joins the room served at `addr` as `identity`, from any process.
pub async fn connect(
    addr: SocketAddr,
    identity: &str,
    options: JoinOptions,
) -> Result<Participant, Error> {
    Ok(Participant::new(
        connect_raw(addr, identity, options).await?,
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
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Bridge(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let join = ParticipantInfo {
        identity: identity.to_owned(),
        client_protocol: options.client_protocol,
        capabilities: options.capabilities(),
        ..Default::default()
    };
    writer
        .write_all(&encode_frame(FRAME_JOIN, &join.encode_to_vec()))
        .await
        .map_err(|e| Error::Bridge(format!("cannot send JOIN: {e}")))?;

    let (frames_tx, mut frames_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(frame) = frames_rx.recv().await {
            if frame.is_empty() || writer.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let remotes = RemoteRegistry::default();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let registry = remotes.clone();
    let me = identity.to_owned();
    tokio::spawn(async move {
        loop {
            let (kind, body) = match read_frame(&mut reader).await {
                Ok(frame) => frame,
                Err(e) => {
                    tracing::info!(identity = %me, error = %e, "bridge link closed");
                    break;
                }
            };
            let event = match kind {
                FRAME_DATA => match DataPacket::decode(body.as_slice()) {
                    Ok(packet) => RoomEvent::Data(Box::new(packet)),
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed DATA frame from the room; closing");
                        break;
                    }
                },
                FRAME_PARTICIPANT => match ParticipantInfo::decode(body.as_slice()) {
                    Ok(info) if info.state == participant_info::State::Disconnected as i32 => {
                        registry.remove(&info.identity);
                        RoomEvent::ParticipantLeft(info.identity)
                    }
                    Ok(info) => {
                        let remote = RemoteParticipant::from_info(&info);
                        registry.insert(remote.clone());
                        RoomEvent::ParticipantJoined(remote)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed PARTICIPANT frame from the room; closing");
                        break;
                    }
                },
                other => {
                    tracing::warn!(kind = other, "unknown frame type from the room; closing");
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
        identity: identity.to_owned(),
        options,
        transport: Arc::new(BridgeTransport { frames: frames_tx }),
        events: events_rx,
        remotes,
        server_version: None,
    })
}
