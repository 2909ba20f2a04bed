//! The seam the engine runs on ([`Transport`] and [`Connection`]), what a participant
//! advertises ([`JoinOptions`]), and the in-process [`MemoryRoom`].

mod attributes;
mod memory;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

pub use crate::limits::RpcLimits;
use crate::limits::StreamLimits;
use crate::proto::{self, DataPacket};

/// What kind of participant someone is, as LiveKit's `ParticipantInfo.kind` says: a
/// standard client, an agent, a SIP caller, an ingress or egress, ...
pub use crate::proto::participant_info::Kind as ParticipantKind;

pub use attributes::{
    attributes_size, merge_attributes, AttributesError, MAX_ATTRIBUTES_BYTES,
    RESERVED_ATTRIBUTE_PREFIX,
};
pub use memory::{MemoryRoom, RecordedPacket, RoomConfig};

/// A boxed, sendable future, as [`Transport`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a participant presents itself to the room.
///
/// `client_protocol` is both what the participant advertises and the most it speaks, so a
/// room can mix participants that behave like SDKs from before RPC v2 (0), with RPC v2 but
/// data streams v1 (1), and with everything (2).
///
/// ```
/// use livekit_typed_rpc::JoinOptions;
/// let legacy = JoinOptions { client_protocol: 0, compression: false, ..Default::default() };
/// assert!(legacy.capabilities().is_empty());
/// assert_eq!(JoinOptions::default().client_protocol, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOptions {
    /// 0, 1 or 2 (default 2).
    pub client_protocol: i32,
    /// Advertise and accept raw-DEFLATE compressed streams (default `true`; needs protocol 2).
    /// Payloads under `compression_min_bytes` are never compressed (it cannot pay), larger
    /// ones only where
    /// every recipient accepts it, and the compressed form is kept only when smaller.
    pub compression: bool,
    /// DEFLATE level (0–9) for what we compress (default
    /// [`DEFAULT_COMPRESSION_LEVEL`](crate::streams::DEFAULT_COMPRESSION_LEVEL), 1: measured
    /// ten times faster than level 6 for 3 points of ratio on JSON).
    pub compression_level: u32,
    /// Smallest payload worth trying to compress (default
    /// [`COMPRESSION_MIN_BYTES`](crate::streams::COMPRESSION_MIN_BYTES), 1 KiB); 0 tries
    /// every eligible payload, as the reference SDK does.
    pub compression_min_bytes: usize,
    /// Limits on incoming streams.
    pub stream_limits: StreamLimits,
    /// Limits on incoming RPC calls.
    pub rpc_limits: RpcLimits,
    /// What kind of participant we are (default standard), as others see it.
    pub kind: ParticipantKind,
    /// Our participant attributes, as others see them.
    pub attributes: HashMap<String, String>,
}

impl Default for JoinOptions {
    fn default() -> Self {
        Self {
            client_protocol: proto::CLIENT_PROTOCOL_DATA_STREAM_V2,
            compression: true,
            compression_level: crate::limits::DEFAULT_COMPRESSION_LEVEL,
            compression_min_bytes: crate::limits::COMPRESSION_MIN_BYTES,
            stream_limits: StreamLimits::default(),
            rpc_limits: RpcLimits::default(),
            kind: ParticipantKind::Standard,
            attributes: HashMap::new(),
        }
    }
}

impl JoinOptions {
    /// Whether compression is really in effect (it needs data streams v2).
    pub fn compression_enabled(&self) -> bool {
        self.compression && self.client_protocol >= proto::CLIENT_PROTOCOL_DATA_STREAM_V2
    }

    /// The `ClientInfo.Capability` values this participant advertises.
    pub fn capabilities(&self) -> Vec<i32> {
        if self.compression_enabled() {
            vec![proto::CAP_COMPRESSION_DEFLATE_RAW]
        } else {
            Vec::new()
        }
    }
}

/// Another participant in the room, as its `ParticipantInfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteParticipant {
    /// Its identity.
    pub identity: String,
    /// Its session id, set by the room.
    pub sid: String,
    /// The client protocol it advertises (0 if it advertises none).
    pub client_protocol: i32,
    /// The `ClientInfo.Capability` values it advertises.
    pub capabilities: Vec<i32>,
    /// What kind of participant it is.
    pub kind: ParticipantKind,
    /// Its participant attributes.
    pub attributes: HashMap<String, String>,
}

impl RemoteParticipant {
    /// Whether it accepts raw-DEFLATE compressed streams.
    pub fn supports_deflate_raw(&self) -> bool {
        self.capabilities
            .contains(&proto::CAP_COMPRESSION_DEFLATE_RAW)
    }

    /// Someone known only by identity (for example a caller that already left): a
    /// standard participant without attributes or protocol.
    pub fn with_identity(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            sid: String::new(),
            client_protocol: 0,
            capabilities: Vec::new(),
            kind: ParticipantKind::Standard,
            attributes: HashMap::new(),
        }
    }

    /// Reads a `ParticipantInfo`; an unknown kind reads as standard.
    pub fn from_info(info: &proto::ParticipantInfo) -> Self {
        Self {
            identity: info.identity.clone(),
            sid: info.sid.clone(),
            client_protocol: info.client_protocol,
            capabilities: info.capabilities.clone(),
            kind: ParticipantKind::try_from(info.kind).unwrap_or(ParticipantKind::Standard),
            attributes: info.attributes.clone(),
        }
    }

    /// The `ParticipantInfo` describing it.
    pub fn to_info(&self, state: proto::participant_info::State) -> proto::ParticipantInfo {
        proto::ParticipantInfo {
            sid: self.sid.clone(),
            identity: self.identity.clone(),
            state: state as i32,
            client_protocol: self.client_protocol,
            capabilities: self.capabilities.clone(),
            kind: self.kind as i32,
            attributes: self.attributes.clone(),
            ..Default::default()
        }
    }
}

/// Why a packet could not be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The participant is no longer in the room.
    #[error("not connected to the room")]
    Disconnected,
    /// The packet exceeds the data channel's message size.
    #[error("data packet of {size} bytes exceeds the data channel limit of {max} bytes")]
    MessageTooLarge {
        /// Encoded size of the packet.
        size: usize,
        /// The room's limit.
        max: usize,
    },
    /// Any other failure (for example a broken bridge connection).
    #[error("{0}")]
    Other(String),
}

/// What a participant's connection delivers, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEvent {
    /// A packet from another participant; `participant_identity` is the sender's.
    Data(Box<DataPacket>),
    /// A participant joined (or was present when we joined).
    ParticipantJoined(RemoteParticipant),
    /// A participant left.
    ParticipantLeft(String),
    /// A participant's attributes changed; this is how it is now.
    ParticipantUpdated(RemoteParticipant),
    /// The link to the room broke (a LiveKit server went away); the link is trying to
    /// rejoin and reports [`RoomEvent::Reconnected`] when it did. Calls in flight cannot
    /// be answered on the broken link.
    ConnectionLost(String),
    /// The link is back after [`RoomEvent::ConnectionLost`]; joins and leaves seen while
    /// rejoining were delivered before this.
    Reconnected,
}

/// Where a participant's link to its room stands.
///
/// In-process rooms and the bridge are only ever `Connected` then `Disconnected`; a link
/// to a LiveKit server also goes through `Reconnecting` when the server goes away.
///
/// ```
/// use livekit_typed_rpc::{ConnectionState, MemoryRoom};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let room = MemoryRoom::new();
/// let alice = room.join("alice").await.unwrap();
/// assert_eq!(alice.connection_state(), ConnectionState::Connected);
/// alice.leave().await;
/// assert_eq!(alice.connection_state(), ConnectionState::Disconnected);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// In the room: calls and streams flow.
    Connected,
    /// The link broke and is being re-established; why it broke.
    Reconnecting(String),
    /// Out of the room for good (left, or the link closed).
    Disconnected,
}

/// The sending half of a participant's link to its room.
pub trait Transport: Send + Sync + 'static {
    /// Publishes a packet; the room stamps the sender and routes it by
    /// `destination_identities` (empty: everyone else).
    fn publish(&self, packet: DataPacket) -> BoxFuture<'_, Result<(), TransportError>>;

    /// Leaves the room; everyone else sees `ParticipantLeft`.
    fn leave(&self);

    /// Merges `changes` into our participant attributes (an empty value deletes a key);
    /// everyone else sees `ParticipantUpdated`. Applied in call order with publishes.
    fn set_attributes(&self, changes: HashMap<String, String>) -> Result<(), TransportError> {
        let _ = changes;
        Err(TransportError::Other(
            "this room link cannot update participant attributes".into(),
        ))
    }
}

/// A participant's link to a room: what it publishes through and what it receives.
pub struct Connection {
    /// Our identity in the room.
    pub identity: String,
    /// What we advertised when joining.
    pub options: JoinOptions,
    /// Where packets go.
    pub transport: Arc<dyn Transport>,
    /// Packets, joins and leaves, in delivery order; ends when we are out of the room.
    pub events: mpsc::UnboundedReceiver<RoomEvent>,
    /// The other participants, kept current by the room side of the link (so a lookup
    /// right after a join already sees who is there).
    pub remotes: RemoteRegistry,
    /// The LiveKit server version the room reports, if any (RPC needs 1.8.0 or newer).
    pub server_version: Option<String>,
}

/// Who else is in the room, as one participant's link knows it. The link updates it as
/// participants join and leave, before it delivers the matching [`RoomEvent`].
#[derive(Debug, Clone, Default)]
pub struct RemoteRegistry {
    inner: Arc<Mutex<HashMap<String, RemoteParticipant>>>,
}

impl RemoteRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RemoteParticipant>> {
        crate::sync::lock(&self.inner)
    }

    /// Records a participant that joined, or how it is after an update.
    pub fn insert(&self, remote: RemoteParticipant) {
        self.lock().insert(remote.identity.clone(), remote);
    }

    /// Whether `identity` is known.
    pub fn contains(&self, identity: &str) -> bool {
        self.lock().contains_key(identity)
    }

    /// Forgets a participant that left.
    pub fn remove(&self, identity: &str) -> Option<RemoteParticipant> {
        self.lock().remove(identity)
    }

    /// A participant, if present.
    pub fn get(&self, identity: &str) -> Option<RemoteParticipant> {
        self.lock().get(identity).cloned()
    }

    /// Everyone, sorted by identity.
    pub fn all(&self) -> Vec<RemoteParticipant> {
        let mut all: Vec<_> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| a.identity.cmp(&b.identity));
        all
    }

    /// Runs `f` on the current map without copying it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&HashMap<String, RemoteParticipant>) -> R) -> R {
        f(&self.lock())
    }

    /// Forgets everyone (the link closed).
    pub fn clear(&self) {
        self.lock().clear();
    }
}
