//! The one seam between generated code and a participant: perform a call, register and
//! unregister a method. Below the participant, so every participant type implements it
//! where it is defined.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, RpcError, RpcErrorCode};
use crate::room::{BoxFuture, RemoteParticipant};
pub use crate::rpc::RawHandler;
use crate::rpc::{CallerPolicy, PerformRpcData, ProgressFn, RpcInvocationData};
use crate::streaming::StreamHub;

/// The one seam between generated code and a participant: perform a call, register and
/// unregister a method. [`Participant`](crate::Participant) implements it; other participant types (the
/// `livekit` crate's `LocalParticipant`, a test double) plug in without touching the macro.
pub trait RpcEndpoint: Clone + Send + Sync + 'static {
    /// Performs one raw call.
    fn perform_rpc(
        &self,
        data: PerformRpcData,
    ) -> impl Future<Output = Result<String, RpcError>> + Send;

    /// [`RpcEndpoint::perform_rpc`], telling `progress` how far the request and the
    /// response have come; the default cannot tell and makes a plain call.
    #[doc(hidden)]
    fn perform_rpc_with_progress(
        &self,
        data: PerformRpcData,
        progress: ProgressFn,
    ) -> BoxFuture<'static, Result<String, RpcError>> {
        let _ = progress;
        let this = self.clone();
        Box::pin(async move { this.perform_rpc(data).await })
    }

    /// Serves `method` with an already boxing handler.
    fn register_raw(&self, method: &str, handler: RawHandler) -> Result<(), Error>;

    /// Serves `method` to the callers `policy` allows; the others get UNSUPPORTED_METHOD.
    /// The default checks the policy inside the handler, against the caller the
    /// invocation describes; [`Participant`](crate::Participant) checks it before reading the payload.
    fn register_raw_with_policy(
        &self,
        method: &str,
        policy: CallerPolicy,
        handler: RawHandler,
    ) -> Result<(), Error> {
        let guarded: RawHandler = Arc::new(move |data: RpcInvocationData| {
            let caller = RemoteParticipant {
                kind: data.caller_kind,
                attributes: data.caller_attributes.clone(),
                ..RemoteParticipant::with_identity(data.caller_identity.clone())
            };
            if policy.allows(&caller) {
                handler(data)
            } else {
                tracing::warn!(caller = %caller.identity, ?policy, "RPC call refused by the method's caller policy");
                Box::pin(async { Err(RpcError::built_in(RpcErrorCode::UnsupportedMethod, None)) })
            }
        });
        self.register_raw(method, guarded)
    }

    /// Stops serving `method`.
    fn unregister_raw(&self, method: &str) -> bool;

    /// Merges `changes` into our participant attributes (an empty value deletes a key).
    /// [`Participant`](crate::Participant) applies them before returning the future, so
    /// updates keep their order; the default cannot set attributes.
    fn set_attributes(
        &self,
        changes: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let _ = changes;
        Box::pin(async {
            Err(Error::Unsupported(
                "this participant type cannot set participant attributes".into(),
            ))
        })
    }

    /// Where streaming calls and cancellations (the `typed_rpc` wire) of this participant
    /// are kept; `None` when the participant type cannot carry them, so its streaming
    /// methods refuse callers and its calls cannot be cancelled at the server.
    #[doc(hidden)]
    fn stream_hub(&self) -> Option<Arc<StreamHub>> {
        None
    }

    /// The other participants as this endpoint knows them (discovery reads their
    /// attributes); the default knows nobody.
    fn remote_participants(&self) -> Vec<RemoteParticipant> {
        Vec::new()
    }

    /// A number that changes whenever someone joins, leaves or updates attributes.
    fn room_version(&self) -> u64 {
        0
    }

    /// Resolves once [`RpcEndpoint::room_version`] is no longer `seen`; the default
    /// wakes every 100 ms to look again.
    fn room_changed(&self, seen: u64) -> BoxFuture<'static, ()> {
        let _ = seen;
        Box::pin(tokio::time::sleep(Duration::from_millis(100)))
    }
}
