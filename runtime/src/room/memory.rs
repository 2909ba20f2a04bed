//! The in-process room: stamps senders, routes by destination, delivers reliably and in
//! order, announces joins and leaves, and can enforce LiveKit's message size and add latency.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::Error;
use crate::proto::{DataPacket, Message};
use crate::room::{
    attributes_size, merge_attributes, AttributesError, BoxFuture, Connection, JoinOptions,
    RemoteParticipant, RemoteRegistry, RoomEvent, Transport, TransportError, MAX_ATTRIBUTES_BYTES,
};

/// How a [`MemoryRoom`] behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomConfig {
    /// Refuse packets whose encoding exceeds this many bytes, as a data channel does
    /// (the reference SDK uses 64 000). `None`: no limit.
    pub max_message_bytes: Option<usize>,
    /// Delay every delivery by this much (order is kept).
    pub latency: Duration,
    /// The server version participants are told, as a LiveKit SFU reports it in its join
    /// response; callers refuse RPC below 1.8.0 (UNSUPPORTED_SERVER). `None`: not reported.
    pub server_version: Option<String>,
}

/// One packet as it crossed the room, for tests and diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedPacket {
    /// Sender identity.
    pub from: String,
    /// Identities it was delivered to.
    pub to: Vec<String>,
    /// The packet, with `participant_identity` stamped by the room.
    pub packet: DataPacket,
}

enum Sink {
    Direct(mpsc::UnboundedSender<RoomEvent>),
    Delayed(mpsc::UnboundedSender<(Instant, RoomEvent)>),
}

struct Member {
    info: RemoteParticipant,
    connection_id: u64,
    sink: Sink,
    remotes: RemoteRegistry,
}

#[derive(Default)]
struct RoomState {
    members: BTreeMap<String, Member>,
    next_id: u64,
    recorders: Vec<Weak<Mutex<Vec<RecordedPacket>>>>,
}

struct RoomInner {
    config: RoomConfig,
    state: Mutex<RoomState>,
}

/// An in-process LiveKit room. Cheap to clone; every clone is the same room.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use livekit_typed_rpc::MemoryRoom;
/// let room = MemoryRoom::new();
/// let alice = room.join("alice").await.unwrap();
/// let bob = room.join("bob").await.unwrap();
/// assert_eq!(room.identities(), vec!["alice".to_string(), "bob".to_string()]);
/// bob.leave().await;
/// assert_eq!(room.identities(), vec!["alice".to_string()]);
/// # drop(alice); }
/// ```
#[derive(Clone)]
pub struct MemoryRoom {
    inner: Arc<RoomInner>,
}

impl Default for MemoryRoom {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRoom {
    /// A room without limits or latency.
    pub fn new() -> Self {
        Self::with_config(RoomConfig::default())
    }

    /// A room with the given behaviour.
    pub fn with_config(config: RoomConfig) -> Self {
        Self {
            inner: Arc::new(RoomInner {
                config,
                state: Mutex::new(RoomState::default()),
            }),
        }
    }

    /// Joins without a participant on top: the raw link, for tools, bridges and tests
    /// that speak the wire protocol themselves. A second join with the same identity
    /// disconnects the first.
    pub fn connect(&self, identity: &str, options: JoinOptions) -> Result<Connection, Error> {
        if identity.is_empty() {
            return Err(Error::InvalidIdentity(identity.to_owned()));
        }
        let bytes = attributes_size(&options.attributes);
        if bytes > MAX_ATTRIBUTES_BYTES {
            return Err(AttributesError::TooLarge {
                bytes,
                max: MAX_ATTRIBUTES_BYTES,
            }
            .into());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = if self.inner.config.latency.is_zero() {
            Sink::Direct(tx)
        } else {
            Sink::Delayed(spawn_delay_line(tx))
        };
        let mut state = self.lock();
        if let Some(old) = state.members.remove(identity) {
            tracing::info!(
                identity,
                "identity joined again; older connection disconnected"
            );
            old.remotes.clear();
            drop(old);
            announce_leave(&mut state, identity, self.inner.config.latency);
        }
        state.next_id += 1;
        let connection_id = state.next_id;
        let info = RemoteParticipant {
            identity: identity.to_owned(),
            sid: format!("PA_{connection_id}"),
            client_protocol: options.client_protocol,
            capabilities: options.capabilities(),
            kind: options.kind,
            attributes: options.attributes.clone(),
        };
        let remotes = RemoteRegistry::default();
        for member in state.members.values() {
            remotes.insert(member.info.clone());
            member.remotes.insert(info.clone());
        }
        broadcast(
            &mut state,
            identity,
            RoomEvent::ParticipantJoined(info.clone()),
            self.inner.config.latency,
        );
        state.members.insert(
            identity.to_owned(),
            Member {
                info,
                connection_id,
                sink,
                remotes: remotes.clone(),
            },
        );
        drop(state);
        Ok(Connection {
            identity: identity.to_owned(),
            options,
            transport: Arc::new(MemoryTransport {
                room: self.inner.clone(),
                identity: identity.to_owned(),
                connection_id,
            }),
            events: rx,
            remotes,
            server_version: self.inner.config.server_version.clone(),
        })
    }

    /// Identities currently in the room, sorted.
    pub fn identities(&self) -> Vec<String> {
        self.lock().members.keys().cloned().collect()
    }

    /// Everyone in the room as the others see them.
    pub fn participants(&self) -> Vec<RemoteParticipant> {
        self.lock()
            .members
            .values()
            .map(|m| m.info.clone())
            .collect()
    }

    /// Starts recording every packet that crosses the room from now on.
    pub fn record_packets(&self) -> PacketRecorder {
        let log = Arc::new(Mutex::new(Vec::new()));
        self.lock().recorders.push(Arc::downgrade(&log));
        PacketRecorder { log }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RoomState> {
        lock(&self.inner.state)
    }
}

fn lock(state: &Mutex<RoomState>) -> std::sync::MutexGuard<'_, RoomState> {
    crate::sync::lock(state)
}

/// Packets recorded by [`MemoryRoom::record_packets`].
pub struct PacketRecorder {
    log: Arc<Mutex<Vec<RecordedPacket>>>,
}

impl PacketRecorder {
    /// Takes everything recorded so far.
    pub fn take(&self) -> Vec<RecordedPacket> {
        std::mem::take(&mut *crate::sync::lock(&self.log))
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> Vec<RecordedPacket> {
        crate::sync::lock(&self.log).clone()
    }
}

fn spawn_delay_line(
    out: mpsc::UnboundedSender<RoomEvent>,
) -> mpsc::UnboundedSender<(Instant, RoomEvent)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, RoomEvent)>();
    tokio::spawn(async move {
        while let Some((at, event)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if out.send(event).is_err() {
                break;
            }
        }
    });
    tx
}

fn deliver(member: &Member, event: RoomEvent, latency: Duration) {
    let _ = match &member.sink {
        Sink::Direct(tx) => tx.send(event).map_err(|_| ()),
        Sink::Delayed(tx) => tx.send((Instant::now() + latency, event)).map_err(|_| ()),
    };
}

fn announce_leave(state: &mut RoomState, identity: &str, latency: Duration) {
    for member in state.members.values() {
        member.remotes.remove(identity);
    }
    broadcast(
        state,
        identity,
        RoomEvent::ParticipantLeft(identity.to_owned()),
        latency,
    );
}

fn broadcast(state: &mut RoomState, except: &str, event: RoomEvent, latency: Duration) {
    for (identity, member) in &state.members {
        if identity != except {
            deliver(member, event.clone(), latency);
        }
    }
}

struct MemoryTransport {
    /// Participants keep their room alive: dropping the `MemoryRoom` handle must not
    /// disconnect anyone.
    room: Arc<RoomInner>,
    identity: String,
    connection_id: u64,
}

impl MemoryTransport {
    fn publish_now(&self, mut packet: DataPacket) -> Result<(), TransportError> {
        let room = &self.room;
        if let Some(max) = room.config.max_message_bytes {
            let size = packet.encoded_len();
            if size > max {
                return Err(TransportError::MessageTooLarge { size, max });
            }
        }
        let mut state = lock(&room.state);
        let sender = match state.members.get(&self.identity) {
            Some(m) if m.connection_id == self.connection_id => m,
            _ => return Err(TransportError::Disconnected),
        };
        packet.participant_identity = self.identity.clone();
        packet.participant_sid = sender.info.sid.clone();
        let recipients: Vec<String> = if packet.destination_identities.is_empty() {
            state
                .members
                .keys()
                .filter(|id| **id != self.identity)
                .cloned()
                .collect()
        } else {
            packet
                .destination_identities
                .iter()
                .filter(|id| **id != self.identity && state.members.contains_key(*id))
                .cloned()
                .collect()
        };
        state.recorders.retain(|r| r.strong_count() > 0);
        for recorder in &state.recorders {
            if let Some(log) = recorder.upgrade() {
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(RecordedPacket {
                        from: self.identity.clone(),
                        to: recipients.clone(),
                        packet: packet.clone(),
                    });
            }
        }
        let last = recipients.len().saturating_sub(1);
        let mut packet = Some(packet);
        for (i, identity) in recipients.iter().enumerate() {
            if let Some(member) = state.members.get(identity) {
                let p = if i == last {
                    packet.take()
                } else {
                    packet.clone()
                };
                if let Some(p) = p {
                    deliver(member, RoomEvent::Data(Box::new(p)), room.config.latency);
                }
            }
        }
        Ok(())
    }
}

impl Transport for MemoryTransport {
    fn publish(&self, packet: DataPacket) -> BoxFuture<'_, Result<(), TransportError>> {
        let result = self.publish_now(packet);
        Box::pin(async move { result })
    }

    fn leave(&self) {
        let room = &self.room;
        let mut state = lock(&room.state);
        let ours = matches!(state.members.get(&self.identity), Some(m) if m.connection_id == self.connection_id);
        if ours {
            if let Some(member) = state.members.remove(&self.identity) {
                member.remotes.clear();
            }
            announce_leave(&mut state, &self.identity, room.config.latency);
        }
    }

    fn set_attributes(&self, changes: HashMap<String, String>) -> Result<(), TransportError> {
        let room = &self.room;
        let mut state = lock(&room.state);
        let member = match state.members.get_mut(&self.identity) {
            Some(m) if m.connection_id == self.connection_id => m,
            _ => return Err(TransportError::Disconnected),
        };
        member.info.attributes = merge_attributes(&member.info.attributes, &changes)
            .map_err(|e| TransportError::Other(e.to_string()))?;
        let info = member.info.clone();
        for (identity, member) in &state.members {
            if *identity != self.identity {
                member.remotes.insert(info.clone());
            }
        }
        broadcast(
            &mut state,
            &self.identity,
            RoomEvent::ParticipantUpdated(info),
            room.config.latency,
        );
        Ok(())
    }
}
