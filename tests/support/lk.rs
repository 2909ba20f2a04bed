//! LiveKit's own Rust RPC managers (`livekit-rpc` / `livekit-data-stream` 0.2.0) as a
//! participant of a `MemoryRoom`: shared by the interop tests and the benchmarks.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use livekit_common::{ClientCapability, ParticipantIdentity, RemoteParticipantRegistry};
use livekit_data_stream::api::{SendTextOptions, StreamReader, StreamResult, TextStreamInfo};
use livekit_data_stream::backend::incoming::{
    InputEvent, Manager as IncomingManager, ManagerInput, OutputEvent, PacketReceived, StreamOpened,
};
use livekit_data_stream::backend::outgoing::Manager as OutgoingManager;
use livekit_data_stream::backend::Packet;
use livekit_rpc::backend::{
    HandleRequestOptions, RpcClientManager, RpcServerManager, RpcTransport, RpcTransportError,
};
use livekit_typed_rpc::proto::{self, data_packet, rpc_response};
use livekit_typed_rpc::room::{RemoteRegistry, RoomEvent, Transport};
use livekit_typed_rpc::{JoinOptions, MemoryRoom};

/// LiveKit's managers glued to a `MemoryRoom` link: the glue only routes packets, as the
/// `livekit` crate's room does.
pub struct LkTransport {
    link: Arc<dyn Transport>,
    remotes: RemoteRegistry,
    outgoing: OutgoingManager,
}

impl RemoteParticipantRegistry for LkTransport {
    fn remote_client_protocol(&self, identity: &ParticipantIdentity) -> i32 {
        self.remotes
            .get(identity.as_str())
            .map_or(0, |r| r.client_protocol)
    }

    fn remote_capabilities(&self, identity: &ParticipantIdentity) -> Vec<ClientCapability> {
        self.remotes
            .get(identity.as_str())
            .map(|r| {
                r.capabilities
                    .iter()
                    .filter_map(|c| ClientCapability::try_from(*c).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn remote_identities(&self) -> Vec<ParticipantIdentity> {
        self.remotes
            .all()
            .into_iter()
            .map(|r| r.identity.into())
            .collect()
    }
}

impl RpcTransport for LkTransport {
    async fn publish_data(&self, data: proto::DataPacket) -> Result<(), RpcTransportError> {
        self.link
            .publish(data)
            .await
            .map_err(RpcTransportError::new)
    }

    async fn send_text(
        &self,
        text: &str,
        options: SendTextOptions,
    ) -> StreamResult<TextStreamInfo> {
        self.outgoing.send_text(text, options, self).await
    }

    fn server_version(&self) -> Option<String> {
        None
    }
}

pub struct LkPeer {
    pub client: Arc<RpcClientManager>,
    pub server: Arc<RpcServerManager>,
    pub transport: Arc<LkTransport>,
    _input: ManagerInput,
}

impl LkPeer {
    pub async fn join(room: &MemoryRoom, identity: &str, options: JoinOptions) -> Self {
        let conn = room.connect(identity, options).unwrap();
        let (outgoing, mut packet_rx) = OutgoingManager::new();
        let transport = Arc::new(LkTransport {
            link: conn.transport.clone(),
            remotes: conn.remotes.clone(),
            outgoing,
        });
        let client = Arc::new(RpcClientManager::new());
        let server = Arc::new(RpcServerManager::new());

        // Outgoing stream packets: publish each batch in order, then acknowledge it.
        let link = conn.transport.clone();
        tokio::spawn(async move {
            while let Ok((packets, responder)) = packet_rx.recv().await {
                let mut result = Ok(());
                for p in packets {
                    if link.publish(p).await.is_err() {
                        result = Err(livekit_data_stream::api::SendError);
                        break;
                    }
                }
                let _ = responder.respond(result);
            }
        });

        let (manager, input, mut output) = IncomingManager::new(None);
        tokio::spawn(manager.run());
        // Streams opened: the RPC topics go to the managers.
        let (c, s, t) = (client.clone(), server.clone(), transport.clone());
        tokio::spawn(async move {
            while let Some(event) = output.recv().await {
                if let OutputEvent::StreamOpened(StreamOpened {
                    stream_reader: livekit_data_stream::api::AnyStreamReader::Text(reader),
                    participant_identity,
                }) = event
                {
                    let topic = reader.info().topic.clone();
                    let (c, s, t) = (c.clone(), s.clone(), t.clone());
                    tokio::spawn(async move {
                        if topic == proto::RPC_REQUEST_TOPIC {
                            s.handle_v2_request_stream(reader, participant_identity, t.as_ref())
                                .await;
                        } else if topic == proto::RPC_RESPONSE_TOPIC {
                            c.handle_v2_response_stream(reader).await;
                        }
                    });
                }
            }
        });

        // Room events: packets by kind, departures.
        let (c, s, t, inp) = (
            client.clone(),
            server.clone(),
            transport.clone(),
            input.clone(),
        );
        let mut events = conn.events;
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    RoomEvent::Data(packet) => {
                        let sender: ParticipantIdentity =
                            packet.participant_identity.clone().into();
                        let feed = |p: Packet| {
                            let _ = inp.send(InputEvent::PacketReceived(PacketReceived::new(
                                p,
                                sender.clone(),
                            )));
                        };
                        let none = livekit_common::EncryptionType::None;
                        match packet.value {
                            Some(data_packet::Value::RpcRequest(r)) => {
                                let (s, t) = (s.clone(), t.clone());
                                let options = HandleRequestOptions {
                                    caller_identity: sender.clone(),
                                    request_id: r.id,
                                    method: r.method,
                                    payload: r.payload,
                                    response_timeout: Duration::from_millis(
                                        r.response_timeout_ms.into(),
                                    ),
                                    version: r.version,
                                };
                                tokio::spawn(async move {
                                    s.handle_v1_request(options, t.as_ref()).await
                                });
                            }
                            Some(data_packet::Value::RpcAck(a)) => {
                                c.handle_incoming_rpc_ack(a.request_id)
                            }
                            Some(data_packet::Value::RpcResponse(r)) => match r.value {
                                Some(rpc_response::Value::Payload(p)) => {
                                    c.handle_v1_response_packet(r.request_id, Some(p), None)
                                }
                                Some(rpc_response::Value::Error(e)) => {
                                    c.handle_v1_response_packet(r.request_id, None, Some(e))
                                }
                                _ => {}
                            },
                            Some(data_packet::Value::StreamHeader(h)) => feed(Packet::Header {
                                header: h.into(),
                                encryption_type: none,
                            }),
                            Some(data_packet::Value::StreamChunk(ch)) => feed(Packet::Chunk {
                                chunk: ch.into(),
                                encryption_type: none,
                            }),
                            Some(data_packet::Value::StreamTrailer(tr)) => feed(Packet::Trailer {
                                trailer: tr.into(),
                                encryption_type: none,
                            }),
                            _ => {}
                        }
                    }
                    RoomEvent::ParticipantLeft(identity) => {
                        let identity: ParticipantIdentity = identity.into();
                        let _ = inp.send(InputEvent::AbortStreamsFrom(identity.clone()));
                        c.handle_participant_disconnected(&identity);
                    }
                    RoomEvent::ParticipantJoined(_)
                    | RoomEvent::ParticipantUpdated(_)
                    | RoomEvent::ConnectionLost(_)
                    | RoomEvent::Reconnected => {}
                }
            }
        });
        Self {
            client,
            server,
            transport,
            _input: input,
        }
    }

    pub fn register(
        &self,
        method: &str,
        f: fn(livekit_rpc::api::RpcInvocationData) -> Result<String, livekit_rpc::api::RpcError>,
    ) {
        self.server
            .register_method(method.into(), move |d| Box::pin(async move { f(d) }));
    }

    pub async fn call(
        &self,
        dest: &str,
        method: &str,
        payload: &str,
    ) -> Result<String, livekit_rpc::api::RpcError> {
        let data = livekit_rpc::api::PerformRpcData::new(dest, method).with_payload(payload);
        self.client.perform_rpc(data, self.transport.as_ref()).await
    }
}
