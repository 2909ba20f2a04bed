//! LiveKit's protobuf messages (from the `livekit-protocol` crate) and the wire constants
//! of RPC v1/v2 and data streams v1/v2, named as in the reference SDKs.

pub use livekit_protocol::{
    client_info::Capability, data_packet, data_stream, participant_info, rpc_response, DataPacket,
    EncryptedPacket, ParticipantInfo, RpcAck, RpcError, RpcRequest, RpcResponse,
    UpdateParticipantMetadata,
};
pub use prost::Message;

/// An SDK from before RPC v2: RPC v1 packets only, data streams v1 only.
pub const CLIENT_PROTOCOL_DEFAULT: i32 = 0;
/// Speaks RPC v2 (requests and success responses over text data streams).
pub const CLIENT_PROTOCOL_DATA_STREAM_RPC: i32 = 1;
/// Also understands data streams v2: inline single-packet streams (and compression when
/// `CAP_COMPRESSION_DEFLATE_RAW` is advertised).
pub const CLIENT_PROTOCOL_DATA_STREAM_V2: i32 = 2;

/// `RpcRequest.version` of every packet request.
pub const RPC_VERSION_V1: u32 = 1;
/// `lk.rpc_request_version` of every stream request.
pub const RPC_VERSION_V2: u32 = 2;
/// Largest request or response payload towards a protocol-0 peer, in UTF-8 bytes.
pub const MAX_V1_PAYLOAD_BYTES: usize = 15_360;

/// Topic of RPC v2 request streams.
pub const RPC_REQUEST_TOPIC: &str = "lk.rpc_request";
/// Topic of RPC v2 success-response streams.
pub const RPC_RESPONSE_TOPIC: &str = "lk.rpc_response";
/// Request stream attribute: the request id.
pub const ATTR_REQUEST_ID: &str = "lk.rpc_request_id";
/// Request stream attribute: the method name.
pub const ATTR_REQUEST_METHOD: &str = "lk.rpc_request_method";
/// Request stream attribute: the on-wire response timeout in milliseconds.
pub const ATTR_RESPONSE_TIMEOUT_MS: &str = "lk.rpc_request_response_timeout_ms";
/// Request stream attribute: the RPC version, `"2"`.
pub const ATTR_REQUEST_VERSION: &str = "lk.rpc_request_version";

/// Largest chunk content, and the budget for a serialized stream header packet.
pub const STREAM_CHUNK_SIZE_BYTES: usize = 15_000;

/// `DataStream.CompressionType.NONE`.
pub const COMPRESSION_NONE: i32 = 0;
/// `DataStream.CompressionType.DEFLATE_RAW`.
pub const COMPRESSION_DEFLATE_RAW: i32 = 1;
/// `ClientInfo.Capability.CAP_COMPRESSION_DEFLATE_RAW`.
pub const CAP_COMPRESSION_DEFLATE_RAW: i32 = Capability::CapCompressionDeflateRaw as i32;

/// A reliable packet addressed to `destinations` (empty: everyone else in the room).
pub fn reliable_packet(destinations: Vec<String>, value: data_packet::Value) -> DataPacket {
    DataPacket {
        destination_identities: destinations,
        value: Some(value),
        ..Default::default()
    }
}
