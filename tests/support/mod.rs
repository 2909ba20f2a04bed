//! Helpers shared by the integration tests: a raw wire-level peer that the test drives by
//! hand (the equivalent of the reference SDK's mocked managers), and packet builders.
#![allow(dead_code)]

pub mod js;
pub mod lk;
pub mod rss;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use livekit_typed_rpc::proto::{self, data_packet, data_stream, DataPacket};
use livekit_typed_rpc::room::{RoomEvent, Transport};
use livekit_typed_rpc::{JoinOptions, MemoryRoom, PerformRpcData};
use tokio::sync::mpsc;

/// A participant the test speaks for, packet by packet.
pub struct RawPeer {
    pub identity: String,
    pub transport: Arc<dyn Transport>,
    pub events: mpsc::UnboundedReceiver<RoomEvent>,
}

pub fn options(protocol: i32, compression: bool) -> JoinOptions {
    JoinOptions {
        client_protocol: protocol,
        compression,
        ..Default::default()
    }
}

impl RawPeer {
    pub fn join(room: &MemoryRoom, identity: &str, protocol: i32, compression: bool) -> Self {
        let c = room
            .connect(identity, options(protocol, compression))
            .expect("join");
        Self {
            identity: identity.into(),
            transport: c.transport,
            events: c.events,
        }
    }

    pub async fn send(&self, to: &str, value: data_packet::Value) {
        self.transport
            .publish(proto::reliable_packet(vec![to.into()], value))
            .await
            .expect("publish");
    }

    /// The next data packet, skipping joins and leaves; panics after 5 s.
    pub async fn next_packet(&mut self) -> DataPacket {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(5), self.events.recv())
                .await
                .expect("timed out waiting for a packet")
                .expect("connection closed");
            if let RoomEvent::Data(p) = event {
                return *p;
            }
        }
    }

    pub async fn next_value(&mut self) -> data_packet::Value {
        self.next_packet().await.value.expect("packet has a value")
    }

    /// Asserts that no data packet arrives within `wait`.
    pub async fn expect_no_packet(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => return,
                Ok(Some(RoomEvent::Data(p))) => panic!("unexpected packet: {p:?}"),
                Ok(Some(_)) => continue,
                Ok(None) => return,
            }
        }
    }

    /// Reads a complete stream the peer receives (header, chunks, trailer or inline) and
    /// returns the header and the concatenated (still compressed, if it was) content.
    pub async fn next_stream(&mut self) -> (data_stream::Header, Vec<u8>, usize) {
        let header = match self.next_value().await {
            data_packet::Value::StreamHeader(h) => h,
            other => panic!("expected a stream header, got {other:?}"),
        };
        if let Some(inline) = header.inline_content.clone() {
            return (header, inline, 1);
        }
        let mut content = Vec::new();
        let mut packets = 1;
        loop {
            packets += 1;
            match self.next_value().await {
                data_packet::Value::StreamChunk(c) => {
                    assert_eq!(c.stream_id, header.stream_id);
                    content.extend(c.content);
                }
                data_packet::Value::StreamTrailer(t) => {
                    assert_eq!(t.stream_id, header.stream_id);
                    return (header, content, packets);
                }
                other => panic!("expected chunk or trailer, got {other:?}"),
            }
        }
    }
}

pub fn text_header(id: &str, topic: &str, total: Option<u64>) -> data_stream::Header {
    data_stream::Header {
        stream_id: id.into(),
        topic: topic.into(),
        mime_type: "text/plain".into(),
        total_length: total,
        content_header: Some(data_stream::header::ContentHeader::TextHeader(
            data_stream::TextHeader::default(),
        )),
        ..Default::default()
    }
}

pub fn byte_header(id: &str, topic: &str, total: Option<u64>) -> data_stream::Header {
    data_stream::Header {
        stream_id: id.into(),
        topic: topic.into(),
        mime_type: "application/octet-stream".into(),
        total_length: total,
        content_header: Some(data_stream::header::ContentHeader::ByteHeader(
            data_stream::ByteHeader {
                name: "file.bin".into(),
            },
        )),
        ..Default::default()
    }
}

pub fn header_packet(h: data_stream::Header) -> data_packet::Value {
    data_packet::Value::StreamHeader(h)
}

pub fn chunk(id: &str, index: u64, content: &[u8]) -> data_packet::Value {
    data_packet::Value::StreamChunk(data_stream::Chunk {
        stream_id: id.into(),
        chunk_index: index,
        content: content.to_vec(),
        ..Default::default()
    })
}

pub fn trailer(id: &str, reason: &str, attributes: &[(&str, &str)]) -> data_packet::Value {
    data_packet::Value::StreamTrailer(data_stream::Trailer {
        stream_id: id.into(),
        reason: reason.into(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    })
}

/// Raw DEFLATE, independent of the crate under test.
pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn inflate_raw(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Pseudo-random bytes that do not compress (xorshift, deterministic).
pub fn incompressible(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Text that does not compress much: random letters.
pub fn incompressible_text(len: usize, seed: u64) -> String {
    incompressible(len, seed)
        .into_iter()
        .map(|b| (b'a' + b % 26) as char)
        .collect()
}

/// A call with everything but destination, method and payload at its default.
pub fn call(dest: &str, method: &str, payload: &str) -> PerformRpcData {
    PerformRpcData {
        destination_identity: dest.into(),
        method: method.into(),
        payload: payload.into(),
        ..Default::default()
    }
}

/// A raw TCP connection to a room wire bridge that has sent its JOIN frame.
pub async fn bridge_join(
    addr: std::net::SocketAddr,
    identity: &str,
    protocol: i32,
    capabilities: Vec<i32>,
) -> tokio::net::TcpStream {
    use livekit_typed_rpc::bridge::{encode_frame, FRAME_JOIN};
    use livekit_typed_rpc::proto::{Message, ParticipantInfo};
    use tokio::io::AsyncWriteExt;

    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("bridge listens");
    let join = ParticipantInfo {
        identity: identity.into(),
        client_protocol: protocol,
        capabilities,
        ..Default::default()
    };
    s.write_all(&encode_frame(FRAME_JOIN, &join.encode_to_vec()))
        .await
        .expect("JOIN sent");
    s
}

/// The header of an `lk.rpc_request` stream as the reference caller sends it (request id
/// `req-<stream id>`, 10 s timeout, version 2).
pub fn rpc_request_header(
    id: &str,
    method: &str,
    total: Option<u64>,
) -> proto::data_stream::Header {
    let mut h = text_header(id, proto::RPC_REQUEST_TOPIC, total);
    h.attributes = HashMap::from([
        (proto::ATTR_REQUEST_ID.to_string(), format!("req-{id}")),
        (proto::ATTR_REQUEST_METHOD.to_string(), method.to_string()),
        (
            proto::ATTR_RESPONSE_TIMEOUT_MS.to_string(),
            "10000".to_string(),
        ),
        (proto::ATTR_REQUEST_VERSION.to_string(), "2".to_string()),
    ]);
    h
}
