//! The room seam over a LiveKit server: data packets go on the session's data channels,
//! attribute updates and leaving go to its signal connection.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;

use super::session::{SessionCommand, Shared};
use crate::proto::{data_packet, DataPacket};
use crate::room::{BoxFuture, Transport, TransportError};
use crate::sync::lock;

/// The largest message livekit-server reads from a data channel; a larger one makes it
/// close the channel, so it is refused here instead.
pub const MAX_DATA_PACKET_BYTES: usize = 65_535;

pub(crate) struct SfuTransport {
    pub shared: Arc<Shared>,
    /// Whether the token grants `canUpdateOwnMetadata` (the server refuses updates
    /// otherwise, long after the call returned).
    pub can_update_attributes: bool,
}

impl Transport for SfuTransport {
    fn publish(&self, mut packet: DataPacket) -> BoxFuture<'_, Result<(), TransportError>> {
        // `kind` is deprecated in the protocol, but it is still how a packet says which
        // channel it wants (livekit-server overwrites it with the channel it came on).
        #[allow(deprecated)]
        let lossy = packet.kind == data_packet::Kind::Lossy as i32;
        // Numbered and queued under one lock, so the server sees sequences in order.
        let queued = match lock(&self.shared.live).as_mut() {
            None => Err(TransportError::Disconnected),
            Some(live) => {
                if !lossy {
                    packet.sequence = live.next_sequence;
                }
                let bytes = packet.encode_to_vec();
                if bytes.len() > MAX_DATA_PACKET_BYTES {
                    Err(TransportError::MessageTooLarge {
                        size: bytes.len(),
                        max: MAX_DATA_PACKET_BYTES,
                    })
                } else {
                    if !lossy {
                        live.next_sequence += 1;
                    }
                    Ok(live.peer.send(lossy, bytes))
                }
            }
        };
        Box::pin(async move {
            queued?.await.map_err(|reason| {
                TransportError::Other(format!(
                    "the connection to the LiveKit server was lost ({reason})"
                ))
            })
        })
    }

    fn leave(&self) {
        let _ = self.shared.commands.send(SessionCommand::Leave);
    }

    fn set_attributes(&self, changes: HashMap<String, String>) -> Result<(), TransportError> {
        if !self.can_update_attributes {
            return Err(TransportError::Other(
                "the access token does not grant canUpdateOwnMetadata, so livekit-server refuses \
                 attribute updates from this participant (service manifests, and so discovery, \
                 cannot work); mint the token with canUpdateOwnMetadata: true"
                    .into(),
            ));
        }
        if lock(&self.shared.live).is_none() {
            return Err(TransportError::Disconnected);
        }
        self.shared
            .commands
            .send(SessionCommand::UpdateAttributes(changes))
            .map_err(|_| TransportError::Disconnected)
    }
}
