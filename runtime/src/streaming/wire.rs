//! The `typed_rpc` v1 wire: the `$typed_rpc` envelope in a call's arguments, the open
//! reply, the NDJSON records of an item stream and the control stream's attributes.
//! Everything here is plain JSON and header attributes, so any LiveKit SDK can speak it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{RpcError, RpcErrorCode};

/// The version of this wire.
pub const WIRE_VERSION: u32 = 1;
/// The reserved key of the arguments object (and of the open reply).
pub const ENVELOPE_KEY: &str = "$typed_rpc";
/// Topic of the text stream carrying one streaming call's records to its caller.
pub const STREAM_TOPIC: &str = "typed_rpc.stream";
/// Topic of the caller's control messages (`cancel`, `credit`) to the server.
pub const CONTROL_TOPIC: &str = "typed_rpc.ctl";

/// Header attribute: the wire version.
pub const ATTR_VERSION: &str = "typed_rpc.v";
/// Header attribute: the call's id (the envelope's `id`).
pub const ATTR_ID: &str = "typed_rpc.id";
/// Header attribute of an item stream: the method's wire name.
pub const ATTR_METHOD: &str = "typed_rpc.method";
/// Header attribute of a control message: `cancel` or `credit`.
pub const ATTR_OP: &str = "typed_rpc.op";
/// Header attribute of a credit: items consumed so far (a running total).
pub const ATTR_ITEMS: &str = "typed_rpc.items";
/// Header attribute of a credit: item bytes consumed so far (a running total).
pub const ATTR_BYTES: &str = "typed_rpc.bytes";

/// The `$typed_rpc` object a typed caller adds to the arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Wire version.
    pub v: u32,
    /// Client-chosen call id (a UUID).
    pub id: String,
    /// Present when opening a streaming call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamParams>,
}

/// What the caller of a streaming method asks of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamParams {
    /// The caller gives up after this long without a record; the server sends a
    /// heartbeat after a third of it.
    pub idle_ms: u64,
    /// The stream must end within this long of opening.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// Items the server may send beyond what the caller has consumed.
    pub window_items: u32,
    /// Item bytes the server may send beyond what the caller has consumed.
    pub window_bytes: u64,
}

impl StreamParams {
    /// The parameters a server honours: a hostile or careless caller cannot make it hold
    /// a huge window or spin on a zero idle timeout.
    pub(crate) fn clamped(self) -> Self {
        Self {
            idle_ms: self.idle_ms.clamp(50, 3_600_000),
            deadline_ms: self.deadline_ms,
            window_items: self.window_items.clamp(1, 65_536),
            window_bytes: self.window_bytes.clamp(1024, 256 * 1024 * 1024),
        }
    }

    pub(crate) fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }

    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.deadline_ms.map(Duration::from_millis)
    }
}

#[derive(Deserialize)]
struct EnvelopeOnly {
    #[serde(rename = "$typed_rpc", default)]
    envelope: Option<Envelope>,
}

/// The envelope of an arguments payload, if it has one. A payload without the key
/// (every plain SDK caller) is `Ok(None)` without being parsed.
pub fn read_envelope(payload: &str) -> Result<Option<Envelope>, String> {
    if !payload.contains("\"$typed_rpc\"") {
        return Ok(None);
    }
    serde_json::from_str::<EnvelopeOnly>(payload)
        .map(|e| e.envelope)
        .map_err(|e| format!("the {ENVELOPE_KEY} envelope is malformed: {e}"))
}

/// `payload` (a JSON object, or empty for no arguments) with the envelope added first.
pub fn with_envelope(payload: &str, envelope: &Envelope) -> Result<String, String> {
    let envelope = serde_json::to_string(envelope).map_err(|e| e.to_string())?;
    let body = payload.trim_start();
    let rest = if body.is_empty() {
        "}"
    } else {
        body.strip_prefix('{')
            .ok_or("the arguments are not a JSON object")?
    };
    let separator = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    Ok(format!("{{\"{ENVELOPE_KEY}\":{envelope}{separator}{rest}"))
}

#[derive(Serialize, Deserialize)]
struct Accepted {
    v: u32,
    id: String,
    accepted: bool,
}

#[derive(Serialize, Deserialize)]
struct AcceptReply {
    #[serde(rename = "$typed_rpc")]
    reply: Accepted,
}

/// The RPC response that accepts a streaming call.
pub fn accept_reply(id: &str) -> String {
    serde_json::json!({ ENVELOPE_KEY: { "v": WIRE_VERSION, "id": id, "accepted": true } })
        .to_string()
}

/// Whether `reply` accepts the streaming call `id`.
pub fn is_accept_reply(reply: &str, id: &str) -> bool {
    serde_json::from_str::<AcceptReply>(reply)
        .is_ok_and(|r| r.reply.accepted && r.reply.id == id && r.reply.v == WIRE_VERSION)
}

/// The data of an error that is about this protocol rather than the application:
/// `{"typed_rpc": <what>}`.
fn protocol_data(what: serde_json::Value) -> Option<String> {
    Some(serde_json::json!({ "typed_rpc": what }).to_string())
}

/// The error a plain caller of a streaming method gets, at once.
pub fn stream_required(method: &str) -> RpcError {
    RpcError::new(
        RpcErrorCode::UnsupportedVersion as u32,
        format!("{method} is a streaming method: call it with a typed_rpc client"),
        protocol_data(serde_json::json!({
            "v": WIRE_VERSION, "kind": "stream_required", "method": method,
        })),
    )
}

/// The error for an envelope of a version this side does not speak.
pub fn unsupported_version(method: &str, version: u32) -> RpcError {
    RpcError::new(
        RpcErrorCode::UnsupportedVersion as u32,
        format!(
            "typed_rpc wire version {version} is not supported (this side speaks {WIRE_VERSION})"
        ),
        protocol_data(serde_json::json!({
            "v": WIRE_VERSION, "kind": "version", "method": method,
        })),
    )
}

/// An error about the stream itself: `code` with `{"typed_rpc": kind}` as its data.
pub fn stream_error(code: RpcErrorCode, kind: &str, message: impl Into<String>) -> RpcError {
    RpcError::new(code as u32, message, protocol_data(kind.into()))
}

/// The `typed_rpc` kind of a protocol error (`"data_loss"`, `"deadline"`, ...), if any.
pub fn protocol_kind(error: &RpcError) -> Option<String> {
    let data: serde_json::Value = serde_json::from_str(error.data.as_deref()?).ok()?;
    match data.get("typed_rpc")? {
        serde_json::Value::String(kind) => Some(kind.clone()),
        other => other.get("kind")?.as_str().map(str::to_owned),
    }
}

/// One record of an item stream as the caller reads it; the item itself is decoded
/// separately, into the method's item type.
#[derive(Debug, Deserialize)]
pub(crate) struct RecordHead {
    pub n: Option<u64>,
    pub hb: Option<u64>,
    pub end: Option<String>,
    pub count: Option<u64>,
    pub error: Option<WireError>,
}

/// An error inside an `end` record, as in an RPC error packet.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireError {
    pub code: u32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

impl From<WireError> for RpcError {
    fn from(e: WireError) -> Self {
        RpcError::new(e.code, e.message, e.data)
    }
}

#[derive(Deserialize)]
pub(crate) struct ItemBody<T> {
    pub i: T,
}

/// Appends item `n` as one record line.
pub(crate) fn push_item(out: &mut String, n: u64, item_json: &str) {
    out.push_str("{\"n\":");
    out.push_str(&n.to_string());
    out.push_str(",\"i\":");
    out.push_str(item_json);
    out.push_str("}\n");
}

/// A heartbeat line: the number of items sent so far.
pub(crate) fn heartbeat(sent: u64) -> String {
    format!("{{\"hb\":{sent}}}\n")
}

/// How a stream ended, as its last record says.
pub(crate) enum EndRecord {
    Ok,
    Error(RpcError),
    Cancelled,
}

/// The last line of an item stream.
pub(crate) fn end_record(end: &EndRecord, count: u64) -> String {
    let line = match end {
        EndRecord::Ok => serde_json::json!({ "end": "ok", "count": count }),
        EndRecord::Cancelled => serde_json::json!({ "end": "cancelled", "count": count }),
        EndRecord::Error(e) => serde_json::json!({
            "end": "error",
            "count": count,
            "error": WireError { code: e.code, message: e.message.clone(), data: e.data.clone() },
        }),
    };
    format!("{line}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_goes_first_and_reads_back() {
        let envelope = Envelope {
            v: 1,
            id: "abc".into(),
            stream: None,
        };
        for (payload, expected) in [
            ("", r#"{"$typed_rpc":{"v":1,"id":"abc"}}"#),
            ("{}", r#"{"$typed_rpc":{"v":1,"id":"abc"}}"#),
            (
                r#"{"joint":2}"#,
                r#"{"$typed_rpc":{"v":1,"id":"abc"},"joint":2}"#,
            ),
        ] {
            let wrapped = with_envelope(payload, &envelope).unwrap();
            assert_eq!(wrapped, expected);
            assert_eq!(read_envelope(&wrapped).unwrap(), Some(envelope.clone()));
        }
        assert_eq!(read_envelope(r#"{"joint":2}"#).unwrap(), None);
        assert!(with_envelope("[1]", &envelope).is_err());
    }

    #[test]
    fn accept_reply_names_its_call() {
        let reply = accept_reply("id-1");
        assert!(is_accept_reply(&reply, "id-1"));
        assert!(!is_accept_reply(&reply, "id-2"));
        assert!(!is_accept_reply("\"hello\"", "id-1"));
    }
}
