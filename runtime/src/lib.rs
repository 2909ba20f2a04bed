//! Typed RPC for LiveKit.
#![warn(missing_docs)]

pub mod error;
pub mod participant;
pub mod proto;
pub mod room;
pub mod rpc;
pub mod streams;
pub mod typed;

pub use error::{CallError, Error, RpcError, RpcErrorCode};
pub use livekit_typed_rpc_macros::livekit_rpc;
pub use participant::{Diagnostics, Participant};
pub use room::{JoinOptions, MemoryRoom, RemoteParticipant, RoomConfig};
pub use rpc::{CallDiagnosis, PerformRpcData, RpcInvocationData};
pub use typed::{serve, ErrorCode, RpcContext, RpcEndpoint, Service, Serving};

#[doc(hidden)]
pub use typed::__private;
