//! Where a call failed, carried as JSON in the `data` of locally raised errors so a user
//! seeing a timeout can tell an absent peer from a slow handler from a stalled network.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{RpcError, RpcErrorCode};

/// How the request travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallTransport {
    /// An `RpcRequest` packet (RPC v1, 15 360-byte limit).
    V1Packet,
    /// An `lk.rpc_request` text data stream (RPC v2).
    V2Stream,
}

/// The state of a call when it failed locally (codes 1402, 1501, 1502, 1503, 1505).
///
/// ```
/// use livekit_typed_rpc::{CallDiagnosis, RpcError, RpcErrorCode};
/// let e = RpcError::built_in(RpcErrorCode::ResponseTimeout, Some(
///     r#"{"request_id":"r","destination":"alice","destination_in_room":true,
///        "destination_protocol":2,"transport":"v2-stream","published":true,
///        "acked_after_ms":3,"waited_ms":15001,"hint":"acked, handler slow"}"#.into()));
/// let d = CallDiagnosis::from_error(&e).unwrap();
/// assert_eq!(d.acked_after_ms, Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallDiagnosis {
    /// The request id.
    pub request_id: String,
    /// The destination identity.
    pub destination: String,
    /// Whether the destination was in the room when the call started.
    pub destination_in_room: bool,
    /// The client protocol the destination advertised (0 if unknown).
    pub destination_protocol: i32,
    /// How the request travelled.
    pub transport: CallTransport,
    /// Whether the request was fully published.
    pub published: bool,
    /// When the acknowledgement arrived, if it did.
    pub acked_after_ms: Option<u64>,
    /// How long the call waited in total.
    pub waited_ms: u64,
    /// What this most likely means, in plain words.
    pub hint: String,
}

impl CallDiagnosis {
    /// Reads the diagnosis from an error's `data`, if it carries one.
    pub fn from_error(error: &RpcError) -> Option<Self> {
        serde_json::from_str(error.data.as_deref()?).ok()
    }

    pub(crate) fn into_error(self, code: RpcErrorCode) -> RpcError {
        let data = serde_json::to_string(&self).ok();
        RpcError::built_in(code, data)
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}
