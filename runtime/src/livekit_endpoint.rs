//! The typed layer on a real LiveKit room: `livekit::prelude::LocalParticipant` is an
//! [`RpcEndpoint`], so generated clients and servers take it directly and its own RPC v2
//! implementation carries the calls through a LiveKit SFU.
//!
//! ```ignore
//! let (room, _events) = livekit::prelude::Room::connect(&url, &token, Default::default()).await?;
//! let local = room.local_participant();
//! let _serving = livekit_typed_rpc::serve(&local, RobotServer::new(MyArm))?;
//! let robot = RobotClient::new(local.clone(), "robot-identity");
//! ```
//!
//! Differences from [`crate::Participant`] come from the `livekit` crate: registering a method
//! that is already registered replaces it instead of failing, and registering before the
//! room is connected is silently ignored by the SDK.

use std::future::Future;

use livekit::prelude::LocalParticipant;

use crate::error::{Error, RpcError};
use crate::rpc::{PerformRpcData, RpcInvocationData};
use crate::typed::{RawHandler, RpcEndpoint};

fn from_livekit(e: livekit::prelude::RpcError) -> RpcError {
    RpcError::new(e.code, e.message, e.data)
}

fn to_livekit(e: RpcError) -> livekit::prelude::RpcError {
    livekit::prelude::RpcError::new(e.code, e.message, e.data)
}

impl RpcEndpoint for LocalParticipant {
    fn perform_rpc(
        &self,
        data: PerformRpcData,
    ) -> impl Future<Output = Result<String, RpcError>> + Send {
        let data = livekit::prelude::PerformRpcData {
            destination_identity: data.destination_identity,
            method: data.method,
            payload: data.payload,
            response_timeout: data.response_timeout,
            max_round_trip_latency: data.max_round_trip_latency,
        };
        let participant = self.clone();
        async move { participant.perform_rpc(data).await.map_err(from_livekit) }
    }

    fn register_raw(&self, method: &str, handler: RawHandler) -> Result<(), Error> {
        self.register_rpc_method(method.to_owned(), move |data| {
            let data = RpcInvocationData {
                request_id: data.request_id,
                caller_identity: data.caller_identity.to_string(),
                payload: data.payload,
                response_timeout: data.response_timeout,
                // The `livekit` crate's invocation names only the caller's identity, so
                // kind- and attribute-based caller policies see a standard participant.
                caller_kind: crate::room::ParticipantKind::Standard,
                caller_attributes: Default::default(),
            };
            let call = handler(data);
            Box::pin(async move { call.await.map_err(to_livekit) })
        });
        Ok(())
    }

    fn unregister_raw(&self, method: &str) -> bool {
        self.unregister_rpc_method(method.to_owned());
        true
    }
}
