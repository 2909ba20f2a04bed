//! Typed RPC for LiveKit participants.
//!
//! `#[livekit_rpc]` on a trait generates a typed client (`<Trait>Client`) and a server
//! (`<Trait>Server`) that speak LiveKit's own RPC wire protocol — RPC v1 packets and RPC v2
//! over data streams, byte-compatible with the JavaScript SDK (`livekit-client` 2.23) and
//! LiveKit's Rust crates — so a Rust participant can call and serve methods with checked
//! signatures instead of raw strings, and any other LiveKit SDK can still call it.
//!
//! The README's main example (`cargo run --example quickstart`), run here as a doc test: a
//! typed robot service served by one participant of an in-process room and called by
//! another, with a typed error, a per-call timeout and a multi-megabyte result over RPC v2.
//!
#![doc = concat!("```rust\n", include_str!("../../examples/quickstart.rs"), "\n```")]
//!
//! # Guide
//!
//! ## The wire format: calling a typed service from any LiveKit SDK
//!
//! A typed method is an ordinary LiveKit RPC method, so JavaScript, Python, Swift, Kotlin
//! or Rust peers call it with their plain `performRpc` / `perform_rpc`:
//!
//! - **Method name**: the Rust method name (`move_arm`); with `#[livekit_rpc(namespace =
//!   "robot")]` it is `robot.move_arm`; `#[rpc(name = "moveArm")]` on a method sets it
//!   exactly. The generated types carry them as constants (`RobotClient::MOVE_ARM`).
//! - **Arguments**: one JSON object keyed by parameter name:
//!   `{"joint": 2, "angle": 41.5}`. Keys may come in any order, unknown keys are ignored,
//!   `Option` parameters may be left out, and `#[serde(rename = "jointId")]` (or any other
//!   `#[serde]` attribute) on a parameter applies. A method without arguments takes an empty
//!   payload (or `{}`).
//! - **Result**: the return value as JSON (`{"joint":2,"angle":41.5}`); `()` is the empty
//!   payload.
//! - **Raw methods**: `#[rpc(raw)]` on a method whose argument and/or result is a `String`
//!   passes that payload through untouched — to serve or call existing string methods.
//! - **Errors**: see below. A parameter of type [`RpcContext`] is filled in by the server
//!   (caller identity, request id, timeout) and is not on the wire.
//!
//! From JavaScript:
//!
//! ```text
//! const pose = JSON.parse(await room.localParticipant.performRpc({
//!   destinationIdentity: 'alice', method: 'robot.move_arm',
//!   payload: JSON.stringify({ joint: 2, angle: 41.5 }) }));
//! ```
//!
//! `Vec<u8>` results travel as JSON arrays of numbers; for large binary data prefer a
//! `String` in base64 or a data stream.
//!
//! ## Errors
//!
//! A client method returns `Result<T, CallError<E>>`:
//!
//! - [`CallError::Application`]`(e)`: the handler returned `Err(e)`. On the wire this is an
//!   `RpcError` with `e`'s JSON in `data`, `e`'s `Display` (if it has one) as the message
//!   (cut to 256 bytes) and code APPLICATION_ERROR (1500) unless `E` implements
//!   [`ErrorCode`] (use codes outside 1001–1999, which LiveKit reserves). The typed error
//!   JSON must fit `data`'s 15 360 bytes.
//! - [`CallError::Rpc`]`(e)`: everything else — timeouts (1501, 1502), the destination
//!   leaving (1503), payload limits (1402, 1504), send failures (1505), an unknown method
//!   (1400), a handler panic (1500 with `data` "Uncaught error: ..."), or arguments and
//!   results that do not decode (1500 with `data` naming the method and parameter).
//!   Methods without `Result` use `CallError<Infallible>`.
//!
//! Errors raised on the caller's side (1402, 1501, 1502, 1503, 1505) keep LiveKit's code
//! and message and carry a [`CallDiagnosis`] as JSON in `data`: whether the request was
//! published, whether and when it was acknowledged, how long the call waited, the
//! transport and the destination's advertised protocol, and a plain-words hint.
//!
//! ## Timeouts and what happens when the caller gives up
//!
//! Every call has two timers, exactly as in LiveKit's SDKs: the acknowledgement must arrive
//! within `max_round_trip_latency` (7 s; started before the request is sent) or the call
//! fails with CONNECTION_TIMEOUT; the response must arrive within the response timeout
//! (15 s by default, started once the request is sent) or it fails with RESPONSE_TIMEOUT.
//! Set it per client with `RobotClient::new(p, "alice").with_timeout(d)` or for one call
//! with `robot.with_timeout(d).move_arm(..)`. The handler is told the timeout (at least
//! 8 s, as every SDK sends) in [`RpcContext::response_timeout`]. Dropping a call's future
//! abandons it: its pending state is removed at once and a late answer is ignored. The
//! handler is not interrupted — LiveKit's protocol has no cancellation message — so a
//! handler that may run long should check [`RpcContext::deadline`].
//!
//! ## Under load, and who may call
//!
//! A participant runs up to [`RpcLimits::max_concurrent_calls_per_caller`] calls of one
//! caller at once; the rest wait in that caller's queue and run in arrival order. Only a
//! call that finds a queue full is refused, with an error for which
//! [`RpcError::is_overloaded`] is true (retry after a backoff: it is load, not a bug). A
//! queued call whose caller gave up or left never runs.
//!
//! [`Participant::serve_with`] and [`ServeOptions`] restrict a service, or one of its
//! methods, to the callers a [`CallerPolicy`] allows (identities, [`ParticipantKind`]s,
//! attributes, predicates); others get UNSUPPORTED_METHOD (1400) before their payload is
//! read. [`RpcContext`] tells a handler the caller's kind and attributes.
//!
//! ## Calling from TypeScript, Python and from LLMs
//!
//! `#[livekit_rpc(contract)]` (with `namespace = ".."` or without) makes the trait the
//! one source of truth for other languages: `<Trait>Server::contract()` (and
//! `<Trait>Client::contract()`) returns a [`contract::ServiceContract`] — wire names,
//! `///` docs of the trait, methods and parameters, and JSON Schemas (draft 2020-12) of
//! each method's arguments object, result and typed error, with its codes (declare them
//! with [`ErrorCode::CODES`]). The schemas come from `schemars` (add `schemars = "1"` and
//! `#[derive(JsonSchema)]` to your types; a missing derive is a compile error at the
//! type), so serde attributes apply; where a type's `Serialize` and `Deserialize` shapes
//! differ, both are given. [`contract::write_all`] writes, per service, into a directory:
//!
//! - `<stem>.contract.json`: the contract, with a `sha256` content hash;
//! - `<stem>.ts`: a TypeScript module for `livekit-client` (below);
//! - `<stem>_rpc.py`: a Python module for LiveKit's Python SDK (below);
//! - `<stem>.openai-tools.json`: one OpenAI function tool per method (`robot.move_arm` is
//!   the tool `robot_move_arm`), plus `strict_tools` for OpenAI's strict mode, where
//!   optional fields are required and nullable (drop `null` optional keys before the
//!   call) and methods strict mode cannot express are listed under `omitted`;
//! - `<stem>.mcp-tools.json`: the same as MCP tools (`tools/list` shape, `outputSchema`
//!   where the result is an object).
//!
//! An agent that receives a tool call sends the call's arguments object as the RPC payload
//! to the method the tool names. The quickstart's files:
//!
//! ```text
//! cargo run --example export_contract -- web/src/generated
//! ```
//!
//! The TypeScript module exports the named types of arguments, results and errors, and for
//! a trait `Robot` a `Robot` object: `Robot.client(room.localParticipant, identity,
//! { responseTimeout })` has one camelCase method per trait method taking one object of
//! the parameters, and `Robot.serve(room, handlers)` registers typed handlers and returns
//! a function that unregisters them. A failed call rejects with `RpcCallError`
//! (`code`, `message`, `data`, and the decoded typed error as `appError`); a handler
//! answers with a typed error by throwing `ApplicationError(value, { code })`, which a Rust
//! caller receives as [`CallError::Application`].
//!
//! ```text
//! import { Room } from 'livekit-client';
//! import { Robot, RpcCallError, type ArmError } from './generated/robot';
//!
//! const robot = Robot.client(room.localParticipant, 'robot-1');
//! try {
//!   const pose = await robot.moveArm({ joint: 2, angle: 41.5 }); // Pose, checked by tsc
//! } catch (e) {
//!   if (e instanceof RpcCallError && e.appError) console.log((e as RpcCallError<ArmError>).appError);
//! }
//! const stop = Robot.serve(room, { moveArm: async ({ joint, angle }) => ({ joint, angle }), ... });
//! ```
//!
//! JavaScript numbers are exact up to 2^53 - 1: 64-bit integer fields are marked in the
//! generated docs (send larger values as strings). `Vec<u8>` is an array of numbers.
//!
//! The Python module (pydantic v2 and `livekit.rtc`) declares a model per named type and
//! per inline object (an enum variant becomes `ArmErrorOutOfReach`), integer ranges as
//! `Field(ge=.., le=..)`, and for `Robot`: `Robot.client(room.local_participant, identity,
//! response_timeout=..)` with one `async` method per trait method taking keyword
//! arguments; `Robot.serve(room, handlers)` taking any object with the `RobotHandlers`
//! methods (keyword arguments plus `invocation`) and returning an unregister function;
//! `RpcCallError` (`code`, `message`, `data`, `app_error`); `ApplicationError(value,
//! code=..)` for handlers; and `Robot.function_tools(participant, identity)`, the methods
//! as `livekit-agents` raw function tools. Wire data (results, errors, handler arguments)
//! is validated in pydantic's strict mode, so a handler sees only what serde would accept.
//!
//! ```text
//! from robot_rpc import Robot, RpcCallError
//!
//! robot = Robot.client(room.local_participant, "robot-1")
//! try:
//!     pose = await robot.move_arm(joint=2, angle=41.5)  # Pose, checked by mypy
//! except RpcCallError as e:
//!     print(e.code, e.app_error)  # ArmErrorOutOfReach(...) for the typed error
//! ```
//!
//! ## Finding the server: attributes, discovery and fan-out
//!
//! Participants have LiveKit's attributes: [`JoinOptions::attributes`] at join,
//! [`Participant::set_attributes`] to merge changes (an empty value deletes a key; at most
//! 64 KiB of keys and values), [`RemoteParticipant::attributes`] to read others', and
//! [`Participant::wait_for_remotes`] to await a change. Serving a typed service publishes
//! its manifest attribute (key scheme in [`discovery`]) once every method is registered
//! and deletes it when the `Serving` guard goes, so `<Trait>Client::discover(&participant,
//! timeout)` returns a client for the one participant serving the trait — it never meets
//! UNSUPPORTED_METHOD because of a server still starting — or says there is none
//! ([`Error::ServiceNotFound`]) or several ([`Error::ServiceAmbiguous`], listing them).
//! `<Trait>Client::fan_out(&participant)` has the client's methods and calls every server
//! at once, returning one typed result per identity; a slow, failing or departing server
//! costs only its own entry. [`Participant::wait_for_service`] and
//! [`Participant::servers`] are the untyped forms. With `contract`, a service also answers
//! `<namespace>.__describe` with its contract JSON, so a peer in any language can fetch
//! the schemas at run time.
//!
//! ## Evolving a trait without breaking older peers
//!
//! - Add parameters as `Option<T>` (or with `#[serde(default)]`): older callers leave them
//!   out and the server sees `None`. Newer callers' extra keys are ignored by older servers.
//! - Rename a Rust method while keeping its wire name with `#[rpc(name = "old_name")]`, and
//!   rename a parameter with `#[serde(rename = "oldName")]`.
//! - Add methods freely; an older server answers UNSUPPORTED_METHOD (1400), which a newer
//!   client can check for.
//! - Changing a result or error type is a breaking change for older peers.
//!
//! ## Traits the macro rejects
//!
//! Every method must be `async fn(&self, ...)` with owned, serde-serializable arguments
//! and result. Generic traits and methods, associated types and constants, reference
//! arguments, patterns and duplicate wire names are compile errors pointing at the
//! offending code: one wire format per method keeps every SDK able to call it.
//!
//! # Layers
//!
//! - [`proto`]: LiveKit's packets (from `livekit-protocol`) and wire constants.
//! - [`streams`]: data streams v1/v2 (chunked, inline, raw-DEFLATE compressed).
//! - [`rpc`]: the RPC engine (caller and handler sides, v1 and v2).
//! - [`room`]: the [`room::Transport`] seam and the in-process [`MemoryRoom`];
//!   [`bridge`] serves a room over TCP to other processes.
//! - [`typed`]: what generated code builds on; [`RpcEndpoint`] is the seam. With the
//!   `livekit` feature, the `livekit` crate's `LocalParticipant` implements it, so the same
//!   generated clients and servers run on a real LiveKit room.
#![warn(missing_docs)]

pub mod bridge;
pub mod contract;
pub mod discovery;
mod endpoint;
pub mod error;
mod limits;
#[cfg(feature = "livekit")]
pub mod livekit_endpoint;
pub mod participant;
pub mod proto;
pub mod room;
pub mod rpc;
#[cfg(feature = "sfu")]
pub mod sfu;
pub mod streaming;
pub mod streams;
mod sync;
pub mod typed;

pub use error::{CallError, Error, RpcError, RpcErrorCode};
pub use livekit_typed_rpc_macros::livekit_rpc;
pub use participant::{Diagnostics, Participant};
pub use room::{
    ConnectionState, JoinOptions, MemoryRoom, ParticipantKind, RemoteParticipant, RoomConfig,
    RpcLimits,
};
pub use rpc::{
    CallDiagnosis, CallerPolicy, PerformRpcData, RpcInvocationData, TransferDirection,
    TransferProgress,
};
pub use typed::{
    serve, serve_with, ErrorCode, RpcContext, RpcEndpoint, ServeOptions, Service, Serving,
};

#[doc(hidden)]
pub use typed::__private;
