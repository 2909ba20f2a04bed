//! Every packet kind we send, encoded and compared with bytes worked out by hand from the
//! field numbers in the reference (livekit_models.proto), so a silent drift in the
//! `livekit-protocol` dependency fails here first. prost writes fields in tag order, a
//! oneof at the position of its lowest tag (so a DataPacket's value comes before its
//! destination identities); protobuf readers accept any order.

use std::collections::HashMap;

use livekit_typed_rpc::proto::{
    self, data_packet, data_stream, participant_info, rpc_response, Message, ParticipantInfo,
    RpcAck, RpcRequest, RpcResponse,
};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn encode(dest: &str, value: data_packet::Value) -> String {
    hex(&proto::reliable_packet(vec![dest.into()], value).encode_to_vec())
}

#[test]
fn rpc_request_packet() {
    let bytes = encode(
        "a",
        data_packet::Value::RpcRequest(RpcRequest {
            id: "i".into(),
            method: "m".into(),
            payload: "p".into(),
            response_timeout_ms: 8000,
            version: 1,
            ..Default::default()
        }),
    );
    // DataPacket.destination_identities (5, LEN) "a"; rpc_request (10, LEN) 14 bytes:
    // id (1) "i", method (2) "m", payload (3) "p", response_timeout_ms (4) varint 8000
    // = c0 3e, version (5) 1.
    assert_eq!(
        bytes,
        "52 0e 0a 01 69 12 01 6d 1a 01 70 20 c0 3e 28 01 2a 01 61"
    );
}

#[test]
fn rpc_ack_packet() {
    let bytes = encode(
        "bob",
        data_packet::Value::RpcAck(RpcAck {
            request_id: "r1".into(),
        }),
    );
    // destination (5) "bob"; rpc_ack (11, LEN): request_id (1) "r1".
    assert_eq!(bytes, "5a 04 0a 02 72 31 2a 03 62 6f 62");
}

#[test]
fn rpc_response_payload_packet() {
    let bytes = encode(
        "a",
        data_packet::Value::RpcResponse(RpcResponse {
            request_id: "i".into(),
            value: Some(rpc_response::Value::Payload("ok".into())),
        }),
    );
    // rpc_response (12, LEN): request_id (1) "i", payload (2) "ok".
    assert_eq!(bytes, "62 07 0a 01 69 12 02 6f 6b 2a 01 61");
}

#[test]
fn rpc_response_error_packet() {
    let bytes = encode(
        "a",
        data_packet::Value::RpcResponse(RpcResponse {
            request_id: "i".into(),
            value: Some(rpc_response::Value::Error(proto::RpcError {
                code: 1500,
                message: "m".into(),
                data: "d".into(),
            })),
        }),
    );
    // rpc_response (12): request_id "i", error (3, LEN 9): code (1) varint 1500 = dc 0b,
    // message (2) "m", data (3) "d".
    assert_eq!(
        bytes,
        "62 0e 0a 01 69 1a 09 08 dc 0b 12 01 6d 1a 01 64 2a 01 61"
    );
}

#[test]
fn stream_header_packet() {
    let header = data_stream::Header {
        stream_id: "s".into(),
        timestamp: 5,
        topic: "t".into(),
        mime_type: "text/plain".into(),
        total_length: Some(3),
        attributes: HashMap::from([("k".into(), "v".into())]),
        inline_content: Some(b"abc".to_vec()),
        compression: proto::COMPRESSION_DEFLATE_RAW,
        content_header: Some(data_stream::header::ContentHeader::TextHeader(
            data_stream::TextHeader::default(),
        )),
        ..Default::default()
    };
    let bytes = encode("a", data_packet::Value::StreamHeader(header));
    // stream_header (13, LEN 39): stream_id (1) "s", timestamp (2) 5, topic (3) "t",
    // mime_type (4) "text/plain", total_length (5) 3, attributes (8) {k: v},
    // text_header (9) empty, inline_content (11) "abc", compression (12) DEFLATE_RAW = 1.
    assert_eq!(
        bytes,
        "6a 27 0a 01 73 10 05 1a 01 74 22 0a 74 65 78 74 2f 70 6c 61 69 6e \
         28 03 42 06 0a 01 6b 12 01 76 4a 00 5a 03 61 62 63 60 01 2a 01 61"
    );
}

#[test]
fn stream_byte_header_packet() {
    let header = data_stream::Header {
        stream_id: "s".into(),
        content_header: Some(data_stream::header::ContentHeader::ByteHeader(
            data_stream::ByteHeader { name: "f".into() },
        )),
        ..Default::default()
    };
    // stream_header (13): stream_id "s", byte_header (10, LEN): name (1) "f".
    assert_eq!(
        encode("a", data_packet::Value::StreamHeader(header)),
        "6a 08 0a 01 73 52 03 0a 01 66 2a 01 61"
    );
}

#[test]
fn stream_chunk_packet() {
    let chunk = data_stream::Chunk {
        stream_id: "s".into(),
        chunk_index: 1,
        content: b"ab".to_vec(),
        ..Default::default()
    };
    // stream_chunk (14, LEN): stream_id (1) "s", chunk_index (2) 1, content (3) "ab".
    assert_eq!(
        encode("a", data_packet::Value::StreamChunk(chunk)),
        "72 09 0a 01 73 10 01 1a 02 61 62 2a 01 61"
    );
}

#[test]
fn stream_trailer_packet() {
    let trailer = data_stream::Trailer {
        stream_id: "s".into(),
        reason: "x".into(),
        attributes: HashMap::new(),
    };
    // stream_trailer (15, LEN): stream_id (1) "s", reason (2) "x".
    assert_eq!(
        encode("a", data_packet::Value::StreamTrailer(trailer)),
        "7a 06 0a 01 73 12 01 78 2a 01 61"
    );
}

#[test]
fn participant_info_for_the_bridge() {
    let info = ParticipantInfo {
        sid: "PA_1".into(),
        identity: "a".into(),
        state: participant_info::State::Active as i32,
        client_protocol: 2,
        capabilities: vec![proto::CAP_COMPRESSION_DEFLATE_RAW],
        ..Default::default()
    };
    // sid (1) "PA_1", identity (2) "a", state (3) ACTIVE = 2, client_protocol (20) 2 with
    // tag a0 01, capabilities (21) packed [2] with tag aa 01.
    assert_eq!(
        hex(&info.encode_to_vec()),
        "0a 04 50 41 5f 31 12 01 61 18 02 a0 01 02 aa 01 01 02"
    );
}

#[test]
fn constants_match_the_reference() {
    assert_eq!(proto::RPC_REQUEST_TOPIC, "lk.rpc_request");
    assert_eq!(proto::RPC_RESPONSE_TOPIC, "lk.rpc_response");
    assert_eq!(proto::ATTR_REQUEST_ID, "lk.rpc_request_id");
    assert_eq!(proto::ATTR_REQUEST_METHOD, "lk.rpc_request_method");
    assert_eq!(
        proto::ATTR_RESPONSE_TIMEOUT_MS,
        "lk.rpc_request_response_timeout_ms"
    );
    assert_eq!(proto::ATTR_REQUEST_VERSION, "lk.rpc_request_version");
    assert_eq!(proto::MAX_V1_PAYLOAD_BYTES, 15_360);
    assert_eq!(proto::STREAM_CHUNK_SIZE_BYTES, 15_000);
    assert_eq!(proto::CAP_COMPRESSION_DEFLATE_RAW, 2);
}
