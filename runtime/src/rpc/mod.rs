//! The RPC engine: caller side (`client`) and handler side (`server`) of LiveKit RPC
//! v1 (packets) and v2 (data streams), with the reference SDK's timers and error codes.

pub(crate) mod admission;
pub(crate) mod client;
pub(crate) mod diagnosis;
pub(crate) mod policy;
pub(crate) mod server;

use std::collections::HashMap;
use std::time::Duration;

pub use diagnosis::{CallDiagnosis, Transport as CallTransport};
pub use policy::CallerPolicy;

use crate::room::ParticipantKind;

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
