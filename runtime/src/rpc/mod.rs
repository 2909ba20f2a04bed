//! The RPC engine: caller side (`client`) and handler side (`server`) of LiveKit RPC
//! v1 (packets) and v2 (data streams), with the reference SDK's timers and error codes.

pub(crate) mod admission;
pub(crate) mod client;
pub(crate) mod diagnosis;
pub(crate) mod policy;
pub(crate) mod server;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use diagnosis::{CallDiagnosis, CallTransport};
pub use policy::CallerPolicy;

use crate::error::RpcError;
use crate::proto;
use crate::room::{
    BoxFuture, JoinOptions, ParticipantKind, RemoteParticipant, RemoteRegistry, Transport,
};
use crate::streams::sender::StreamSender;
use crate::streams::{ProgressCallback, SendTextOptions, SentStream, StreamError};

/// A method handler as the engine stores it: one boxed future per call.
pub type RawHandler =
    Arc<dyn Fn(RpcInvocationData) -> BoxFuture<'static, Result<String, RpcError>> + Send + Sync>;

/// The RPC engine of one participant: what it needs from the participant (identity,
/// options, the room's view of the others, a way to publish and to send streams) and its
/// own state (calls in flight, methods served).
pub(crate) struct RpcEngine {
    identity: String,
    options: JoinOptions,
    server_version: Option<String>,
    remotes: RemoteRegistry,
    connected: Arc<AtomicBool>,
    streams: Arc<StreamSender>,
    pub(crate) pending: Arc<client::PendingCalls>,
    pub(crate) handlers: server::Handlers,
}

impl RpcEngine {
    pub(crate) fn new(
        identity: String,
        options: JoinOptions,
        server_version: Option<String>,
        remotes: RemoteRegistry,
        connected: Arc<AtomicBool>,
        streams: Arc<StreamSender>,
    ) -> Self {
        Self {
            identity,
            options,
            server_version,
            remotes,
            connected,
            streams,
            pending: Arc::default(),
            handlers: server::Handlers::default(),
        }
    }

    pub(crate) fn identity(&self) -> &str {
        &self.identity
    }

    pub(crate) fn options(&self) -> &JoinOptions {
        &self.options
    }

    pub(crate) fn server_version(&self) -> Option<&str> {
        self.server_version.as_deref()
    }

    pub(crate) fn remote(&self, identity: &str) -> Option<RemoteParticipant> {
        self.remotes.get(identity)
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub(crate) fn transport(&self) -> &Arc<dyn Transport> {
        self.streams.transport()
    }

    /// Whether this participant speaks RPC v2 at all.
    pub(crate) fn speaks_rpc_v2(&self) -> bool {
        self.options.client_protocol >= proto::CLIENT_PROTOCOL_DATA_STREAM_RPC
    }

    /// Whether requests to, or success responses for, a peer advertising `peer_protocol`
    /// travel as data streams: both sides must speak RPC v2.
    pub(crate) fn rpc_over_streams_with(&self, peer_protocol: i32) -> bool {
        self.speaks_rpc_v2() && peer_protocol >= proto::CLIENT_PROTOCOL_DATA_STREAM_RPC
    }

    /// `sendText` as the engine uses it for requests and responses.
    pub(crate) async fn send_text_internal(
        &self,
        text: &str,
        topic: &str,
        attributes: HashMap<String, String>,
        destinations: Vec<String>,
        on_progress: Option<ProgressCallback>,
    ) -> Result<SentStream, StreamError> {
        let options = SendTextOptions {
            topic: topic.to_owned(),
            attributes,
            destination_identities: destinations,
            on_progress,
            ..Default::default()
        };
        self.streams.send_text(text, options).await
    }

    /// Someone left: calls to them fail, their queued calls here never run.
    pub(crate) fn participant_left(&self, identity: &str) {
        self.pending.participant_left(identity);
        self.handlers.caller_left(identity);
    }
}

/// Which way a call's payload is moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferDirection {
    /// The request, going out.
    Request,
    /// The response, coming in.
    Response,
}

/// How far a call's payload has come: payload bytes (before compression) sent or
/// received so far, out of `total` where the sender announced it (every RPC v2 request
/// and response of this crate and of livekit-client 2.21+ does; a payload in one packet
/// is reported once, whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferProgress {
    /// Request or response.
    pub direction: TransferDirection,
    /// Bytes so far.
    pub bytes: u64,
    /// Bytes in all, if known.
    pub total: Option<u64>,
}

/// Told a call's [`TransferProgress`] as its payloads move.
pub type ProgressFn = Arc<dyn Fn(TransferProgress) + Send + Sync>;

/// What `perform_rpc` sends; field names as in rust-sdks.
///
/// ```
/// use livekit_typed_rpc::PerformRpcData;
/// use std::time::Duration;
/// let call = PerformRpcData {
///     destination_identity: "alice".into(),
///     method: "echo".into(),
///     payload: "hi".into(),
///     ..Default::default()
/// };
/// assert_eq!(call.response_timeout, Duration::from_secs(15));
/// assert_eq!(call.max_round_trip_latency, Duration::from_secs(7));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerformRpcData {
    /// Who should handle the call.
    pub destination_identity: String,
    /// Method name.
    pub method: String,
    /// Request payload.
    pub payload: String,
    /// How long to wait for the response once the request is sent (default 15 s). The
    /// handler is told `max(response_timeout, 8 s)`, as every LiveKit SDK does.
    pub response_timeout: Duration,
    /// How long to wait for the handler's acknowledgement (default 7 s).
    pub max_round_trip_latency: Duration,
}

impl Default for PerformRpcData {
    fn default() -> Self {
        Self {
            destination_identity: String::new(),
            method: String::new(),
            payload: String::new(),
            response_timeout: Duration::from_secs(15),
            max_round_trip_latency: Duration::from_secs(7),
        }
    }
}

/// What a handler receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcInvocationData {
    /// The caller's request id (a lowercase UUID).
    pub request_id: String,
    /// Identity of the caller.
    pub caller_identity: String,
    /// Request payload.
    pub payload: String,
    /// How long the caller waits, as it sent it on the wire.
    pub response_timeout: Duration,
    /// What kind of participant the caller is, as the room says.
    pub caller_kind: ParticipantKind,
    /// The caller's participant attributes when the call arrived, as the room says.
    pub caller_attributes: HashMap<String, String>,
}

/// The smallest on-wire response timeout every LiveKit SDK sends.
pub const MIN_WIRE_RESPONSE_TIMEOUT: Duration = Duration::from_millis(8000);
