//! Errors: the wire-level [`RpcError`] every LiveKit SDK shares, the typed client's
//! [`CallError`], and [`Error`] for local operations (registration, joining, streams).

use std::fmt;

use crate::proto;

/// Built-in RPC error codes, numbered exactly as in every LiveKit SDK.
///
/// Codes 1001–1999 are reserved for these; application errors should use other codes.
///
/// ```
/// use livekit_typed_rpc::RpcErrorCode;
/// assert_eq!(RpcErrorCode::ResponseTimeout as u32, 1502);
/// assert_eq!(RpcErrorCode::from_code(1400), Some(RpcErrorCode::UnsupportedMethod));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum RpcErrorCode {
    /// The handler failed (panicked, or a request/response stream could not be read).
    ApplicationError = 1500,
    /// No acknowledgement arrived within `max_round_trip_latency`.
    ConnectionTimeout = 1501,
    /// No response arrived within `response_timeout`.
    ResponseTimeout = 1502,
    /// The destination left the room before answering.
    RecipientDisconnected = 1503,
    /// The response exceeds 15 360 bytes and the caller only speaks RPC v1.
    ResponsePayloadTooLarge = 1504,
    /// The request could not be published.
    SendFailed = 1505,
    /// No handler is registered for the method at the destination.
    UnsupportedMethod = 1400,
    /// The destination is not in the room.
    RecipientNotFound = 1401,
    /// The request exceeds 15 360 bytes and the destination only speaks RPC v1.
    RequestPayloadTooLarge = 1402,
    /// The server does not support RPC.
    UnsupportedServer = 1403,
    /// The request used an RPC version the handler does not speak.
    UnsupportedVersion = 1404,
}

impl RpcErrorCode {
    /// All built-in codes.
    pub const ALL: [RpcErrorCode; 11] = [
        Self::ApplicationError,
        Self::ConnectionTimeout,
        Self::ResponseTimeout,
        Self::RecipientDisconnected,
        Self::ResponsePayloadTooLarge,
        Self::SendFailed,
        Self::UnsupportedMethod,
        Self::RecipientNotFound,
        Self::RequestPayloadTooLarge,
        Self::UnsupportedServer,
        Self::UnsupportedVersion,
    ];

    /// The built-in code with this number, if any.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| *c as u32 == code)
    }

    /// The message every LiveKit SDK uses for this code.
    pub fn message(self) -> &'static str {
        match self {
            Self::ApplicationError => "Application error in method handler",
            Self::ConnectionTimeout => "Connection timeout",
            Self::ResponseTimeout => "Response timeout",
            Self::RecipientDisconnected => "Recipient disconnected",
            Self::ResponsePayloadTooLarge => "Response payload too large",
            Self::SendFailed => "Failed to send",
            Self::UnsupportedMethod => "Method not supported at destination",
            Self::RecipientNotFound => "Recipient not found",
            Self::RequestPayloadTooLarge => "Request payload too large",
            Self::UnsupportedServer => "RPC not supported by server",
            Self::UnsupportedVersion => "Unsupported RPC version",
        }
    }
}

/// An RPC error as it travels on the wire (`livekit.RpcError`): a code, a message of at
/// most 256 bytes and optional data of at most 15 360 bytes.
///
/// ```
/// use livekit_typed_rpc::{RpcError, RpcErrorCode};
/// let e = RpcError::new(42, "x".repeat(300), Some("details".into()));
/// assert_eq!(e.message.len(), 256);
/// let t = RpcError::built_in(RpcErrorCode::UnsupportedMethod, None);
/// assert_eq!(t.message, "Method not supported at destination");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// Error code; 1001–1999 are the built-in codes of [`RpcErrorCode`].
    pub code: u32,
    /// Human-readable message, at most [`RpcError::MAX_MESSAGE_BYTES`].
    pub message: String,
    /// Optional data, at most [`RpcError::MAX_DATA_BYTES`].
    pub data: Option<String>,
}

impl RpcError {
    /// Longest message that goes on the wire, in UTF-8 bytes.
    pub const MAX_MESSAGE_BYTES: usize = 256;
    /// Longest data that goes on the wire, in UTF-8 bytes.
    pub const MAX_DATA_BYTES: usize = 15_360;

    /// Creates an error, cutting `message` and `data` to their limits on char boundaries.
    pub fn new(code: u32, message: impl Into<String>, data: Option<String>) -> Self {
        Self {
            code,
            message: truncate_utf8(message.into(), Self::MAX_MESSAGE_BYTES),
            data: data.map(|d| truncate_utf8(d, Self::MAX_DATA_BYTES)),
        }
    }

    /// A built-in error with the standard message.
    pub fn built_in(code: RpcErrorCode, data: Option<String>) -> Self {
        Self::new(code as u32, code.message(), data)
    }

    /// The message of a call refused because the destination's queue for its caller was
    /// full: load, not a bug (see [`RpcError::is_overloaded`]).
    pub const OVERLOADED_MESSAGE: &'static str =
        "Overloaded: too many calls queued at the destination, retry later";

    /// A call refused under load: APPLICATION_ERROR (1500, so every SDK can read it) with
    /// [`RpcError::OVERLOADED_MESSAGE`] and `detail` saying which bound was reached.
    pub fn overloaded(detail: String) -> Self {
        Self::new(
            RpcErrorCode::ApplicationError as u32,
            Self::OVERLOADED_MESSAGE,
            Some(detail),
        )
    }

    /// Whether the destination refused the call because it is under load: its queue for
    /// this caller (or all callers) was full (`RpcLimits::max_queued_*`). Retrying after
    /// a backoff is the right reaction; nothing ran. Other SDKs see code 1500 with
    /// [`RpcError::OVERLOADED_MESSAGE`].
    ///
    /// ```
    /// use livekit_typed_rpc::{RpcError, RpcErrorCode};
    /// assert!(RpcError::overloaded("queue full".into()).is_overloaded());
    /// assert!(!RpcError::built_in(RpcErrorCode::ApplicationError, None).is_overloaded());
    /// ```
    pub fn is_overloaded(&self) -> bool {
        self.code == RpcErrorCode::ApplicationError as u32
            && self.message == Self::OVERLOADED_MESSAGE
    }

    /// The built-in code, if this error carries one.
    pub fn built_in_code(&self) -> Option<RpcErrorCode> {
        RpcErrorCode::from_code(self.code)
    }

    /// Reads an error from the wire; empty `data` means none, as in the JavaScript SDK.
    pub fn from_proto(proto: proto::RpcError) -> Self {
        let data = if proto.data.is_empty() {
            None
        } else {
            Some(proto.data)
        };
        Self::new(proto.code, proto.message, data)
    }

    /// The wire form.
    pub fn to_proto(&self) -> proto::RpcError {
        proto::RpcError {
            code: self.code,
            message: self.message.clone(),
            data: self.data.clone().unwrap_or_default(),
        }
    }
}

/// The words of a locally raised error's diagnosis (`CallDiagnosis` JSON in `data`).
#[derive(serde::Deserialize)]
struct DiagnosisWords {
    hint: String,
    destination: String,
    waited_ms: u64,
}

impl fmt::Display for RpcError {
    /// `RPC Error: <message> (<code>)`, then the data; for errors raised on the caller's
    /// side, the diagnosis in words instead of its JSON (which stays in `data`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RPC Error: {} ({})", self.message, self.code)?;
        let Some(data) = &self.data else {
            return Ok(());
        };
        match serde_json::from_str::<DiagnosisWords>(data) {
            Ok(words) => write!(
                f,
                ": {} (calling {}, after {} ms)",
                words.hint, words.destination, words.waited_ms
            ),
            Err(_) => write!(f, ": {data}"),
        }
    }
}

impl std::error::Error for RpcError {}

/// Cuts a string to at most `max` UTF-8 bytes without splitting a character.
pub(crate) fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// What a typed client call returns on failure: the handler's own typed error, or an RPC
/// failure (timeout, disconnect, unknown method, undecodable arguments or result).
///
/// ```
/// use livekit_typed_rpc::{CallError, RpcError, RpcErrorCode};
/// let e: CallError<String> = RpcError::built_in(RpcErrorCode::ResponseTimeout, None).into();
/// assert!(matches!(e, CallError::Rpc(ref r) if r.code == 1502));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The handler returned `Err(e)`; this is that `e`, decoded.
    Application(E),
    /// The call failed in transport or protocol.
    Rpc(RpcError),
}

impl<E> CallError<E> {
    /// The RPC error, if the failure was not the handler's own.
    pub fn as_rpc(&self) -> Option<&RpcError> {
        match self {
            Self::Rpc(e) => Some(e),
            Self::Application(_) => None,
        }
    }

    /// The handler's typed error, if that is what failed.
    pub fn as_application(&self) -> Option<&E> {
        match self {
            Self::Application(e) => Some(e),
            Self::Rpc(_) => None,
        }
    }
}

impl<E: serde::de::DeserializeOwned> CallError<E> {
    /// A failure as it came over the wire: the handler's typed error when its data decodes
    /// as `E` and its code is not one of LiveKit's transport or protocol codes; an RPC
    /// error otherwise.
    pub(crate) fn from_wire(error: RpcError) -> Self {
        let reserved = (1001..=1999).contains(&error.code)
            && error.code != RpcErrorCode::ApplicationError as u32;
        if !reserved && !error.is_overloaded() {
            if let Some(e) = error
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
            {
                return CallError::Application(e);
            }
        }
        CallError::Rpc(error)
    }
}

impl<E> From<RpcError> for CallError<E> {
    fn from(e: RpcError) -> Self {
        Self::Rpc(e)
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Application(e) => write!(f, "handler error: {e}"),
            Self::Rpc(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for CallError<E> {}

/// Errors of local operations: joining, registering handlers, sending streams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `register_rpc_method` for a method that already has a handler.
    #[error("RPC handler already registered for method {0}, unregister_rpc_method before trying to register again")]
    MethodAlreadyRegistered(String),
    /// A stream handler for this topic already exists (the RPC topics are always taken).
    #[error("a stream handler is already registered for topic {0:?}")]
    HandlerAlreadyRegistered(String),
    /// An identity was empty or otherwise unusable.
    #[error("invalid identity {0:?}: identities must be non-empty")]
    InvalidIdentity(String),
    /// Options name a method the service does not serve.
    #[error("no method {method:?} in this service; it serves {served:?}")]
    UnknownMethod {
        /// The wire name given.
        method: String,
        /// The wire names the service has.
        served: Vec<String>,
    },
    /// A network error from the room wire bridge.
    #[error("bridge: {0}")]
    Bridge(String),
    /// Participant attributes could not be set.
    #[error(transparent)]
    Attributes(#[from] AttributesError),
    /// We are no longer in the room.
    #[error("not connected to the room")]
    NotConnected,
    /// Joining a LiveKit server failed: it refused (its HTTP status and reason), could
    /// not be reached in time, or the URL is malformed.
    #[error("could not join the LiveKit server at {url}: {reason}")]
    Join {
        /// The URL given.
        url: String,
        /// The HTTP status the server refused with, if it answered.
        status: Option<u16>,
        /// Why, in the server's words where it gave any.
        reason: String,
    },
    /// The room link failed.
    #[error("room: {0}")]
    Room(String),
    /// What this participant type cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// No participant served the service within the wait.
    #[error(
        "no participant serves {service:?} after waiting {waited:?} (present: {present:?}); \
         is the server in the room and serving it?"
    )]
    ServiceNotFound {
        /// The service (trait name).
        service: String,
        /// How long we waited.
        waited: std::time::Duration,
        /// Who was in the room.
        present: Vec<String>,
    },
    /// Several participants serve the service, so "the" server is ambiguous.
    #[error(
        "{service:?} is served by {identities:?}: pick one with <Trait>Client::new(participant, identity) \
         or call them all with <Trait>Client::fan_out"
    )]
    ServiceAmbiguous {
        /// The service (trait name).
        service: String,
        /// Everyone serving it, sorted.
        identities: Vec<String>,
    },
}

/// Why attributes could not be updated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributesError {
    /// The merged attributes would exceed 64 KiB.
    #[error(
        "participant attributes would take {bytes} bytes (keys plus values) after this update; \
         LiveKit allows {max} in all: delete keys (set them to \"\") or store less"
    )]
    TooLarge {
        /// Their size after the update.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// An empty key.
    #[error("participant attribute keys must not be empty")]
    EmptyKey,
}
