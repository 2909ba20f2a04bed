//! Streaming results and cancellation over LiveKit RPC: a `#[livekit_rpc]` method that
//! returns `Result<RpcStream<T, E>, E>` sends items to its caller as they come, and one
//! marked `#[rpc(cancellable)]` learns when its caller gives up.
//!
//! ```
//! use livekit_typed_rpc::streaming::{RpcStream, StreamConfig};
//! use livekit_typed_rpc::{livekit_rpc, MemoryRoom};
//!
//! #[livekit_rpc(namespace = "count")]
//! pub trait Counter {
//!     /// Counts from 1 to `to`, one item each.
//!     async fn up_to(&self, to: u32) -> Result<RpcStream<u32, String>, String>;
//! }
//!
//! struct Impl;
//! impl Counter for Impl {
//!     async fn up_to(&self, to: u32) -> Result<RpcStream<u32, String>, String> {
//!         if to > 1000 {
//!             return Err("too far".into()); // refused before any item
//!         }
//!         Ok(RpcStream::from_iter(1..=to))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let room = MemoryRoom::new();
//! let server = room.join("counter").await.unwrap();
//! let caller = room.join("caller").await.unwrap();
//! let _serving = server.serve(CounterServer::new(Impl)).unwrap();
//! let counter = CounterClient::new(caller, "counter")
//!     .with_stream(StreamConfig::default().window(16, 64 * 1024));
//! let mut items = counter.up_to(100).await.unwrap();
//! let mut sum = 0;
//! while let Some(n) = items.next().await {
//!     sum += n.unwrap();
//! }
//! assert_eq!(sum, 5050);
//! # }
//! ```
//!
//! # The wire (`typed_rpc` v1)
//!
//! Any LiveKit SDK can speak it: it uses only `performRpc` with string payloads and text
//! data streams with header attributes, on topics of its own (never `lk.`).
//!
//! - **Opening.** The caller adds `"$typed_rpc": {"v":1, "id":"<uuid>", "stream":
//!   {"idle_ms":30000, "deadline_ms":null, "window_items":64, "window_bytes":262144}}` to
//!   the arguments object and calls the method as usual. The server answers with the RPC
//!   response `{"$typed_rpc":{"v":1,"id":"<uuid>","accepted":true}}`, or with an RPC error
//!   (the typed `E` in its `data`, as for any call). A caller without the envelope gets
//!   `1404` with data `{"typed_rpc":{"v":1,"kind":"stream_required","method":..}}` at once.
//! - **Items.** One text stream per call on topic `typed_rpc.stream` to the caller, with
//!   attributes `typed_rpc.v`, `typed_rpc.id` and `typed_rpc.method`. Its body is compact
//!   NDJSON: `{"n":0,"i":<item>}` per item, numbered from 0; `{"hb":<items sent>}` after a
//!   third of the idle timeout without a record; and a last line `{"end":"ok","count":N}`,
//!   `{"end":"error","count":N,"error":{"code":..,"message":..,"data":..}}` or
//!   `{"end":"cancelled","count":N}`. Records may arrive before the open reply.
//! - **Control.** The caller sends text streams with an empty body on `typed_rpc.ctl` to
//!   the server, everything in the attributes `typed_rpc.v`, `typed_rpc.id` and
//!   `typed_rpc.op`: `cancel`, or `credit` with the running totals `typed_rpc.items` and
//!   `typed_rpc.bytes` of item records consumed (bytes of their lines, newline included).
//!   The server sends item `n` only while `n < items + window_items` and its item bytes
//!   sent stay under `bytes + window_bytes` (one item may go when nothing is in flight).
//!   The caller credits each half window.
//! - **Ends.** A deadline ends the stream with `1502` and data `{"typed_rpc":"deadline"}`;
//!   a caller that grants no credit for the idle timeout with `1500`
//!   `{"typed_rpc":"consumer_stalled"}`. A gap in `n` or a `count` that does not match is
//!   `1500` `{"typed_rpc":"data_loss"}` at the caller. The server leaving is `1503`.
//! - **Cancelling a unary call.** A `#[rpc(cancellable)]` caller sends
//!   `"$typed_rpc":{"v":1,"id":"<uuid>"}` and, when it gives up, a `cancel` for that id;
//!   the handler's [`RpcContext::cancelled`](crate::RpcContext::cancelled) resolves.

mod cancel;
mod consumer;
mod hub;
mod producer;
pub mod wire;

use std::sync::Arc;

pub use cancel::{CancelReason, CancelSignal};
pub use consumer::{CallStream, StreamConfig, StreamEnd};
#[doc(hidden)]
pub use hub::{CallRegistration, StreamHub};
pub use producer::{RpcStream, StreamClosed, StreamSink};

pub(crate) use consumer::Opening;

use crate::error::RpcError;
use crate::rpc::RpcInvocationData;
use hub::ProducerSlot;
use wire::{StreamParams, WIRE_VERSION};

/// A streaming call the server has registered and whose handler is about to run;
/// dropping it (the handler failed to open) unregisters the call.
#[doc(hidden)]
pub struct ServedOpening {
    slot: ProducerSlot,
    caller: String,
    id: String,
    method: String,
    params: StreamParams,
}

impl std::fmt::Debug for ServedOpening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedOpening")
            .field("caller", &self.caller)
            .field("id", &self.id)
            .field("method", &self.method)
            .finish()
    }
}

/// Checks a call of the streaming method `method` before its handler runs: the caller
/// must have opened it as a stream, in a version we speak, within its stream limit.
#[doc(hidden)]
pub fn open_served(
    hub: Option<&Arc<StreamHub>>,
    method: &str,
    data: &RpcInvocationData,
) -> Result<ServedOpening, RpcError> {
    let envelope = wire::read_envelope(&data.payload).map_err(|why| {
        RpcError::built_in(
            crate::error::RpcErrorCode::ApplicationError,
            Some(format!("invalid arguments for {method:?}: {why}")),
        )
    })?;
    let Some(envelope) = envelope else {
        return Err(wire::stream_required(method));
    };
    if envelope.v != WIRE_VERSION {
        return Err(wire::unsupported_version(method, envelope.v));
    }
    let Some(params) = envelope.stream else {
        return Err(wire::stream_required(method));
    };
    let Some(hub) = hub else {
        return Err(RpcError::built_in(
            crate::error::RpcErrorCode::UnsupportedVersion,
            Some(format!(
                "{method} streams, and this participant type cannot send typed_rpc streams"
            )),
        ));
    };
    let slot = hub.open_producer(&data.caller_identity, &envelope.id)?;
    Ok(ServedOpening {
        slot,
        caller: data.caller_identity.clone(),
        id: envelope.id,
        method: method.to_owned(),
        params: params.clamped(),
    })
}

impl ServedOpening {
    /// The stream's cancellation, for the handler's context.
    pub fn cancel_signal(&self) -> CancelSignal {
        self.slot.cancel.clone()
    }

    /// Starts sending `stream`'s items and returns the reply that accepts the call.
    pub fn start<T, E>(self, stream: RpcStream<T, E>, encode_error: fn(&E) -> RpcError) -> String
    where
        T: serde::Serialize + Send + 'static,
        E: Send + 'static,
    {
        let reply = wire::accept_reply(&self.id);
        let pump = producer::Pump {
            slot: self.slot,
            caller: self.caller,
            id: self.id,
            method: self.method,
            params: self.params,
            stream,
            encode_error,
        };
        tokio::spawn(pump.run());
        reply
    }
}
