//! What a participant accepts from others (limits on incoming streams and calls) and the
//! measured defaults of what it sends (compression floor and level). A leaf module, so
//! the room, the streams and the RPC engine all build on it.

/// Receiver-side limits. The defaults protect a participant from a peer that sends
/// endless or oversized streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLimits {
    /// Most bytes one stream may deliver, after decompression (default 5 GB, as the
    /// reference SDK).
    pub max_stream_bytes: u64,
    /// Most streams one sender may have open at once (default 256).
    pub max_open_streams_per_sender: usize,
    /// Most attributes one header may carry (default 1 024).
    pub max_header_attributes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_stream_bytes: 5_000_000_000,
            max_open_streams_per_sender: 256,
            max_header_attributes: 1024,
        }
    }
}

/// Limits on what callers can make a participant hold or run. The defaults keep a
/// misbehaving peer from exhausting memory or tasks; raise them if your methods need to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcLimits {
    /// Largest RPC request or response payload accepted over a data stream, in bytes
    /// (default 256 MiB). A larger request is refused with REQUEST_PAYLOAD_TOO_LARGE (1402)
    /// and a larger response fails the call with RESPONSE_PAYLOAD_TOO_LARGE (1504); in both
    /// cases the bytes are dropped as they arrive, never buffered.
    pub max_payload_bytes: u64,
    /// Most handler invocations one caller may have running at once (default 64). Further
    /// calls wait their turn in that caller's queue and run in arrival order as running
    /// ones finish.
    pub max_concurrent_calls_per_caller: usize,
    /// Most calls one caller may have waiting for a slot (default 16 384). A call beyond
    /// this, or beyond any other queue bound below, is refused with an error for which
    /// [`RpcError::is_overloaded`](crate::RpcError::is_overloaded) is true.
    pub max_queued_calls_per_caller: usize,
    /// Most request payload bytes one caller may have waiting (default 64 MiB).
    pub max_queued_bytes_per_caller: usize,
    /// Most calls waiting across all callers (default 65 536).
    ///
    /// A queued call costs its payload plus about 4 KB, so one caller can make a
    /// participant hold at most about `max_queued_calls_per_caller × 4 KB +
    /// max_queued_bytes_per_caller` (with the defaults, under 130 MB; measured by
    /// `tests/memory_flood.rs`), and all callers together `max_queued_calls × 4 KB +
    /// max_queued_bytes`.
    pub max_queued_calls: usize,
    /// Most request payload bytes waiting across all callers (default 256 MiB).
    pub max_queued_bytes: usize,
    /// A handler still running this long after its caller's deadline (the response timeout
    /// the caller sent) is cancelled, since no caller of any LiveKit SDK still waits for it;
    /// `None` lets handlers run forever. Default 10 s, which covers every SDK's way of
    /// computing the timeout it sends.
    pub cancel_handlers_after_deadline: Option<std::time::Duration>,
    /// Most streaming calls (`RpcStream` results) one caller may have open here at once
    /// (default 16); a further one is refused as overloaded before its handler runs.
    pub max_streams_per_caller: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 256 * 1024 * 1024,
            max_concurrent_calls_per_caller: 64,
            max_queued_calls_per_caller: 16_384,
            max_queued_bytes_per_caller: 64 * 1024 * 1024,
            max_queued_calls: 65_536,
            max_queued_bytes: 256 * 1024 * 1024,
            cancel_handlers_after_deadline: Some(std::time::Duration::from_secs(10)),
            max_streams_per_caller: 16,
        }
    }
}

/// Payloads smaller than this are sent uncompressed without trying. Measured (level 1):
/// under 1 KiB, JSON saves at most a few hundred bytes, which never changes how many
/// packets a message takes (one inline packet carries up to 15 000 bytes), while trying
/// costs a reset and a pass over the data on every small call. The reference SDK's own
/// first RPC-compression design used the same 1 KiB floor.
pub const COMPRESSION_MIN_BYTES: usize = 1024;

/// A payload larger than this is probed before it is compressed: its first this-many
/// bytes are compressed alone, and the payload is compressed only if that saves at least
/// [`COMPRESSION_MIN_SAVING_PERCENT`]. Random bytes and already-compressed media then
/// cost one 64 KiB pass (about 0.3 ms) instead of a pass over all of it (40 MB/s on this
/// machine's 2 cores) for nothing; smaller payloads are compressed whole and sent
/// compressed only if that is smaller.
pub const COMPRESSION_PROBE_BYTES: usize = 64 * 1024;

/// The least a probe must save for a large payload to be compressed. At 10 %, random
/// bytes (0 %) and compressed media go as they are, while base64 (DEFLATE saves about
/// 23 % of it), text (35–50 %) and JSON (75–90 %) are compressed: a 5 MB base64 echo
/// takes about two thirds of the time compressed through a real LiveKit server (whose
/// data channels move under 20 MB/s here) and three quarters on a 100 Mbit/s link, and a
/// JSON one a quarter on both (BENCHMARKS.md).
pub const COMPRESSION_MIN_SAVING_PERCENT: usize = 10;

/// The DEFLATE level used unless `JoinOptions::compression_level` says otherwise.
/// Measured on 5 MB (one shot, best of five, this project's 2-core machine):
///
/// | backend, level | JSON: size, compress | random text: size, compress |
/// |---|---|---|
/// | miniz_oxide 1 (chosen) | 10.4 %, 337 MB/s | 75.8 %, 146 MB/s |
/// | miniz_oxide 2 | 9.0 %, 175 MB/s | 76.3 %, 22 MB/s |
/// | zlib-rs 1 | 14.5 %, 702 MB/s | 99.9 %, 85 MB/s |
/// | zlib-rs 2 | 9.0 %, 459 MB/s | 75.7 %, 43 MB/s |
///
/// zlib-rs is faster on JSON, but its level 1 uses fixed Huffman codes and does not
/// compress text at all, and its level 2 is three times slower than miniz_oxide's level 1
/// on text; miniz_oxide level 1 is the one setting that is fast on both and keeps text
/// at three quarters. Level 6 (zlib's default) gains a few percent on JSON at a tenth of
/// the speed.
///
/// Compressing one payload on several cores (segments ending on sync flushes, as pigz
/// does) was tried and measured against this single stream in the same run: 1.01x on a
/// 5 MB JSON echo in one process and 0.99x through livekit-server, on two cores where the
/// receiver's inflating and the sending already use the second core. It was taken out
/// (commit "Experiment: compress large payloads in segments on every core").
///
/// Inflating is another matter: whatever produced a stream, zlib-rs reads it, because on
/// the level-1 streams above it inflates about 1 000 MB/s of JSON and 280 MB/s of random
/// text where miniz_oxide inflates 600 and 240 MB/s (5 MB, best of nine).
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 1;
