//! A data-only participant on a real LiveKit server, with no libwebrtc: LiveKit's own
//! signal client (`livekit-signaling`) for the WebSocket, and str0m's sans-IO WebRTC for
//! the two data channels, all from crates.io with a plain `cargo build` (feature `sfu`).
//!
//! [`connect`] returns the same [`Participant`] that [`MemoryRoom`](crate::MemoryRoom)
//! and the [bridge](crate::bridge) return, so typed clients and servers, RPC v1 and v2,
//! data streams, caller policies, attributes and discovery work unchanged on it.
//!
//! What livekit-server expects is done here, not left to users: reliable packets carry
//! increasing `sequence` numbers, no packet over [`MAX_DATA_PACKET_BYTES`] goes on a
//! channel, pings follow the join response, and a participant whose token lacks
//! `canUpdateOwnMetadata` is told so when it sets attributes. When the server goes away,
//! calls in flight fail at once with a "connection ... lost" error,
//! [`Participant::connection_state`] says `Reconnecting`, and the participant rejoins by
//! itself with backoff (for up to a minute), publishing its attributes (and so its
//! served services) again.
//!
//! ```no_run
//! # async fn run() -> Result<(), livekit_typed_rpc::Error> {
//! use livekit_typed_rpc::{sfu, JoinOptions};
//! let token = std::env::var("LIVEKIT_TOKEN").unwrap_or_default();
//! let robot = sfu::connect("ws://127.0.0.1:7880", &token, JoinOptions::default()).await?;
//! println!("joined as {}", robot.identity());
//! # Ok(()) }
//! ```

mod peer;
mod session;
mod transport;
mod url;

use std::sync::{Arc, Mutex};

use livekit_token::Claims;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::participant::Participant;
use crate::room::{merge_attributes, Connection, JoinOptions, RemoteRegistry};
use session::{RoomEvents, Shared};
pub use session::{JOIN_TIMEOUT, REJOIN_WINDOW};
use transport::SfuTransport;
pub use transport::MAX_DATA_PACKET_BYTES;
use url::ServerUrl;

/// Joins the room that `token` grants on the LiveKit server at `url`, as a data-only
/// participant. Identity, kind and room come from the token; `options` says what we
/// advertise (client protocol, compression) and our initial attributes (which need a
/// token with `canUpdateOwnMetadata`).
///
/// Fails within [`JOIN_TIMEOUT`] with [`Error::Join`]: the server's HTTP status and
/// reason when it refuses the token, or why it could not be reached; a malformed URL
/// fails before anything is sent.
pub async fn connect(url: &str, token: &str, options: JoinOptions) -> Result<Participant, Error> {
    let join_error = |status: Option<u16>, reason: String| Error::Join {
        url: url.to_owned(),
        status,
        reason,
    };
    let server = ServerUrl::parse(url).map_err(|reason| join_error(None, reason))?;
    // Unverified: only to tell users early what the server would refuse later.
    let can_update_attributes = Claims::from_unverified(token)
        .map(|claims| claims.video.can_update_own_metadata())
        .unwrap_or(true);
    if !options.attributes.is_empty() && !can_update_attributes {
        return Err(join_error(
            None,
            "JoinOptions::attributes were given but the access token does not grant \
             canUpdateOwnMetadata, so livekit-server would refuse them"
                .into(),
        ));
    }
    let mut session = session::join_once(&server, token, &options)
        .await
        .map_err(|failure| join_error(failure.status, failure.reason))?;
    session
        .publish_initial_attributes(options.attributes.clone())
        .await;

    let (commands, command_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        live: Mutex::new(Some(session.live())),
        commands,
    });
    let remotes = RemoteRegistry::default();
    let (event_tx, events) = mpsc::unbounded_channel();
    let room_events = RoomEvents(event_tx);
    session.adopt_room(&remotes, &room_events);

    let identity = session.me.identity.clone();
    let server_version = session.server_version();
    let mut options = options;
    options.kind = session.kind();
    options.attributes =
        merge_attributes(&session.me.attributes, &options.attributes).map_err(Error::Attributes)?;
    tokio::spawn(session.run(shared.clone(), command_rx, remotes.clone(), room_events));
    Ok(Participant::new(Connection {
        identity,
        options,
        transport: Arc::new(SfuTransport {
            shared,
            can_update_attributes,
        }),
        events,
        remotes,
        server_version,
    }))
}
