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
//!
//! A `LocalParticipant` sets attributes (so serving publishes its manifest) but does not
//! see the room; [`LiveKitRoom`] wraps a connected `Room` so that discovery and fan-out
//! (`<Trait>Client::discover`, `<Trait>Client::fan_out`) read the remote participants'
//! attributes too.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use livekit::prelude::{LocalParticipant, Room};

use crate::error::{Error, RpcError};
use crate::room::{BoxFuture, ParticipantKind, RemoteParticipant};
use crate::rpc::{PerformRpcData, RpcInvocationData};
use crate::typed::{RawHandler, RpcEndpoint};

fn kind(kind: livekit::participant::ParticipantKind) -> ParticipantKind {
    use livekit::participant::ParticipantKind as Lk;
    match kind {
        Lk::Standard => ParticipantKind::Standard,
        Lk::Ingress => ParticipantKind::Ingress,
        Lk::Egress => ParticipantKind::Egress,
        Lk::Sip => ParticipantKind::Sip,
        Lk::Agent => ParticipantKind::Agent,
        Lk::Connector => ParticipantKind::Connector,
        // Kinds newer than our protocol crate read as standard, as unknown kinds do.
        #[allow(unreachable_patterns)]
        _ => ParticipantKind::Standard,
    }
}

fn set_attributes(
    participant: &LocalParticipant,
    changes: HashMap<String, String>,
) -> BoxFuture<'static, Result<(), Error>> {
    let participant = participant.clone();
    Box::pin(async move {
        participant
            .set_attributes(changes)
            .await
            .map_err(|e| Error::Room(e.to_string()))
    })
}

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

    fn set_attributes(
        &self,
        changes: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        set_attributes(self, changes)
    }
}

/// A connected `livekit` room as an [`RpcEndpoint`]: calls and handlers go through its
/// local participant, and discovery reads its remote participants' attributes.
///
/// ```ignore
/// let (room, _events) = Room::connect(&url, &token, Default::default()).await?;
/// let room = LiveKitRoom::new(room);
/// let robot = RobotClient::discover(&room, Duration::from_secs(10)).await?;
/// ```
#[derive(Clone)]
pub struct LiveKitRoom {
    room: Arc<Room>,
}

impl LiveKitRoom {
    /// Wraps a connected room.
    pub fn new(room: Room) -> Self {
        Self {
            room: Arc::new(room),
        }
    }

    /// The room.
    pub fn room(&self) -> &Room {
        &self.room
    }
}

impl RpcEndpoint for LiveKitRoom {
    fn perform_rpc(
        &self,
        data: PerformRpcData,
    ) -> impl Future<Output = Result<String, RpcError>> + Send {
        let local = self.room.local_participant();
        async move { RpcEndpoint::perform_rpc(&local, data).await }
    }

    fn register_raw(&self, method: &str, handler: RawHandler) -> Result<(), Error> {
        RpcEndpoint::register_raw(&self.room.local_participant(), method, handler)
    }

    fn unregister_raw(&self, method: &str) -> bool {
        RpcEndpoint::unregister_raw(&self.room.local_participant(), method)
    }

    fn set_attributes(
        &self,
        changes: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        set_attributes(&self.room.local_participant(), changes)
    }

    fn remote_participants(&self) -> Vec<RemoteParticipant> {
        self.room
            .remote_participants()
            .into_values()
            .map(|p| RemoteParticipant {
                identity: p.identity().to_string(),
                sid: p.sid().to_string(),
                kind: kind(p.kind()),
                attributes: p.attributes(),
                ..RemoteParticipant::with_identity(String::new())
            })
            .collect()
    }
}
