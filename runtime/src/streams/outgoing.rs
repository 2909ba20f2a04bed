//! Sending data streams: the reference SDK's choice between an inline single packet, a
//! raw-DEFLATE chunked stream and a classic chunked stream, and the incremental writers.

use std::collections::HashMap;
use std::sync::Arc;

use crate::proto::{self, data_packet, data_stream, DataPacket, Message};
use crate::room::{RemoteParticipant, Transport};
use crate::streams::deflate;
use crate::streams::utf8::split_utf8;
use crate::streams::{ProgressCallback, SentStream, StreamError};

/// How a send may travel, decided from the recipients' advertised protocol and capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Eligibility {
    /// Every recipient speaks data streams v2 (inline single-packet streams).
    pub inline: bool,
    /// Every recipient also advertises raw-DEFLATE decompression.
    pub compress: bool,
    /// The DEFLATE level to compress at.
    pub level: u32,
    /// Smallest payload worth trying to compress.
    pub min_bytes: usize,
}

/// The reference rule: named recipients, or for a broadcast every remote participant
/// (an empty room counts as eligible); unknown identities count as protocol 0.
pub(crate) fn eligibility(
    local_protocol: i32,
    local_compression: bool,
    (level, min_bytes): (u32, usize),
    destinations: &[String],
    remotes: &HashMap<String, RemoteParticipant>,
) -> Eligibility {
    if local_protocol < proto::CLIENT_PROTOCOL_DATA_STREAM_V2 {
        return Eligibility {
            inline: false,
            compress: false,
            level,
            min_bytes,
        };
    }
    let recipients: Vec<Option<&RemoteParticipant>> = if destinations.is_empty() {
        remotes.values().map(Some).collect()
    } else {
        destinations.iter().map(|d| remotes.get(d)).collect()
    };
    let inline = recipients
        .iter()
        .all(|r| r.is_some_and(|r| r.client_protocol >= proto::CLIENT_PROTOCOL_DATA_STREAM_V2));
    let compress = inline
        && local_compression
        && recipients
            .iter()
            .all(|r| r.is_some_and(|r| r.supports_deflate_raw()));
    Eligibility {
        inline,
        compress,
        level,
        min_bytes,
    }
}

/// Header fields common to every way of sending.
pub(crate) struct HeaderSpec {
    pub stream_id: String,
    pub topic: String,
    pub mime_type: String,
    pub attributes: HashMap<String, String>,
    pub content: data_stream::header::ContentHeader,
    pub destinations: Vec<String>,
}

pub(crate) fn text_content() -> data_stream::header::ContentHeader {
    text_content_with(Vec::new())
}

pub(crate) fn text_content_with(attached: Vec<String>) -> data_stream::header::ContentHeader {
    data_stream::header::ContentHeader::TextHeader(data_stream::TextHeader {
        operation_type: data_stream::OperationType::Create as i32,
        attached_stream_ids: attached,
        ..Default::default()
    })
}

pub(crate) fn byte_content(name: String) -> data_stream::header::ContentHeader {
    data_stream::header::ContentHeader::ByteHeader(data_stream::ByteHeader { name })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl HeaderSpec {
    fn header(&self, total_length: Option<u64>) -> data_stream::Header {
        data_stream::Header {
            stream_id: self.stream_id.clone(),
            timestamp: now_ms(),
            topic: self.topic.clone(),
            mime_type: self.mime_type.clone(),
            total_length,
            attributes: self.attributes.clone(),
            content_header: Some(self.content.clone()),
            ..Default::default()
        }
    }

    fn packet(&self, value: data_packet::Value) -> DataPacket {
        proto::reliable_packet(self.destinations.clone(), value)
    }

    fn checked_header_packet(
        &self,
        header: data_stream::Header,
    ) -> Result<DataPacket, StreamError> {
        let packet = self.packet(data_packet::Value::StreamHeader(header));
        let size = packet.encoded_len();
        if size > proto::STREAM_CHUNK_SIZE_BYTES {
            return Err(StreamError::HeaderTooLarge {
                size,
                max: proto::STREAM_CHUNK_SIZE_BYTES,
            });
        }
        Ok(packet)
    }

    fn chunk(&self, index: u64, content: Vec<u8>) -> DataPacket {
        self.packet(data_packet::Value::StreamChunk(data_stream::Chunk {
            stream_id: self.stream_id.clone(),
            chunk_index: index,
            content,
            ..Default::default()
        }))
    }

    fn trailer(&self, reason: String) -> DataPacket {
        self.packet(data_packet::Value::StreamTrailer(data_stream::Trailer {
            stream_id: self.stream_id.clone(),
            reason,
            attributes: HashMap::new(),
        }))
    }
}

async fn publish(transport: &dyn Transport, packet: DataPacket) -> Result<(), StreamError> {
    transport
        .publish(packet)
        .await
        .map_err(|e| StreamError::SendFailed(e.to_string()))
}

/// How much input the compressor takes between sends of a large payload: small enough
/// that the first chunks leave (and the receiver starts inflating) while the rest is
/// still being compressed, large enough that the pauses cost nothing measurable.
const COMPRESS_FEED_BYTES: usize = 64 * 1024;

/// Whether compressing `payload` can save anything worth its cost: a payload over
/// [`deflate::COMPRESSION_PROBE_BYTES`] is compressed only if its first probe-size bytes,
/// compressed alone, save at least [`deflate::COMPRESSION_MIN_SAVING_PERCENT`]. Smaller
/// payloads are not probed: compressing them whole is the probe.
fn probe_says_compress(payload: &[u8], level: u32) -> bool {
    let probe_len = deflate::COMPRESSION_PROBE_BYTES;
    if payload.len() <= probe_len {
        return true;
    }
    let mut probe = Vec::with_capacity(probe_len);
    deflate::Deflater::new(level).feed(&payload[..probe_len], true, &mut probe);
    probe.len() * 100 <= probe_len * (100 - deflate::COMPRESSION_MIN_SAVING_PERCENT)
}

/// Sends a complete payload the way the reference SDK's `sendText`/`sendBytes` does.
pub(crate) async fn send_payload(
    transport: &dyn Transport,
    spec: HeaderSpec,
    payload: &[u8],
    is_text: bool,
    eligibility: Eligibility,
    compress_allowed: bool,
    progress: Option<&ProgressCallback>,
) -> Result<SentStream, StreamError> {
    let total = payload.len() as u64;
    let report = |bytes: u64| {
        if let Some(progress) = progress {
            progress.report(bytes, total);
        }
    };
    // Tried only where it can pay; kept only where it is strictly smaller (below).
    let compress = eligibility.compress
        && compress_allowed
        && payload.len() >= eligibility.min_bytes
        && probe_says_compress(payload, eligibility.level);
    let mut compressed = None;
    if compress {
        // Compress only as far as deciding between one inline packet and a chunked stream
        // needs: once the output outgrows a packet, the rest is compressed as it is sent.
        let mut deflater = deflate::Deflater::new(eligibility.level);
        let mut out = Vec::new();
        let mut rest = payload;
        loop {
            let take = rest.len().min(COMPRESS_FEED_BYTES);
            deflater.feed(&rest[..take], take == rest.len(), &mut out);
            rest = &rest[take..];
            if rest.is_empty() {
                compressed = Some(out);
                break;
            }
            if out.len() > proto::STREAM_CHUNK_SIZE_BYTES {
                return send_compressing(transport, spec, total, deflater, out, rest, progress)
                    .await;
            }
        }
    }

    if eligibility.inline {
        let mut header = spec.header(Some(total));
        let (content, used_compression) = match &compressed {
            Some(c) if c.len() < payload.len() => (c.as_slice(), true),
            _ => (payload, false),
        };
        // An inline packet can only fit when the content does; skip building a doomed one.
        if content.len() <= proto::STREAM_CHUNK_SIZE_BYTES {
            header.inline_content = Some(content.to_vec());
            header.compression = if used_compression {
                proto::COMPRESSION_DEFLATE_RAW
            } else {
                proto::COMPRESSION_NONE
            };
            let packet = spec.packet(data_packet::Value::StreamHeader(header));
            if packet.encoded_len() <= proto::STREAM_CHUNK_SIZE_BYTES {
                publish(transport, packet).await?;
                report(total);
                return Ok(SentStream {
                    stream_id: spec.stream_id,
                    packets: 1,
                    inline: true,
                    compressed: used_compression,
                    payload_bytes: total,
                    wire_payload_bytes: content.len() as u64,
                });
            }
        }
    }

    let mut header = spec.header(Some(total));
    let pieces: Vec<&[u8]> = match &compressed {
        Some(c) => {
            header.compression = proto::COMPRESSION_DEFLATE_RAW;
            c.chunks(proto::STREAM_CHUNK_SIZE_BYTES).collect()
        }
        None if is_text => split_utf8(payload, proto::STREAM_CHUNK_SIZE_BYTES),
        None => payload.chunks(proto::STREAM_CHUNK_SIZE_BYTES).collect(),
    };
    let header_packet = spec.checked_header_packet(header)?;
    publish(transport, header_packet).await?;
    let mut wire = 0u64;
    let wire_total = pieces.iter().map(|p| p.len() as u64).sum::<u64>().max(1);
    for (index, piece) in pieces.iter().enumerate() {
        wire += piece.len() as u64;
        publish(transport, spec.chunk(index as u64, piece.to_vec())).await?;
        // Compressed, the payload's share is the wire's (the DEFLATE stream is one piece).
        report(total * wire / wire_total);
    }
    publish(transport, spec.trailer(String::new())).await?;
    Ok(SentStream {
        stream_id: spec.stream_id,
        packets: pieces.len() + 2,
        inline: false,
        compressed: compressed.is_some(),
        payload_bytes: total,
        wire_payload_bytes: wire,
    })
}

/// Cuts one stream's content into the reference's 15 000-byte chunks and publishes each
/// as soon as it is full, so the receiver starts on a stream before its sender is done
/// producing it (compressing, or reading a file).
struct ChunkPublisher<'a> {
    transport: &'a dyn Transport,
    spec: &'a HeaderSpec,
    /// Produced but not yet published.
    pending: Vec<u8>,
    next_index: u64,
    wire_bytes: u64,
}

impl<'a> ChunkPublisher<'a> {
    fn new(transport: &'a dyn Transport, spec: &'a HeaderSpec, pending: Vec<u8>) -> Self {
        Self {
            transport,
            spec,
            pending,
            next_index: 0,
            wire_bytes: 0,
        }
    }

    /// Where a producer appends the stream's next bytes.
    fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    /// Publishes every full chunk; with `last`, the short final one too.
    async fn publish_ready(&mut self, last: bool) -> Result<(), StreamError> {
        let size = proto::STREAM_CHUNK_SIZE_BYTES;
        let mut sent = 0;
        while self.pending.len() - sent >= size || (last && sent < self.pending.len()) {
            let end = (sent + size).min(self.pending.len());
            let piece = self.pending[sent..end].to_vec();
            sent = end;
            self.wire_bytes += piece.len() as u64;
            publish(self.transport, self.spec.chunk(self.next_index, piece)).await?;
            self.next_index += 1;
        }
        // What was published is dropped so the buffer stays about one chunk long.
        self.pending.drain(..sent);
        Ok(())
    }

    /// Publishes the trailer (empty `reason`: a normal end) and says what went out.
    async fn end(
        self,
        reason: String,
        payload_bytes: u64,
        compressed: bool,
    ) -> Result<SentStream, StreamError> {
        publish(self.transport, self.spec.trailer(reason)).await?;
        Ok(SentStream {
            stream_id: self.spec.stream_id.clone(),
            packets: self.next_index as usize + 2,
            inline: false,
            compressed,
            payload_bytes,
            wire_payload_bytes: self.wire_bytes,
        })
    }
}

/// The compressed chunked stream of a payload too large to go inline: `out` holds what
/// `deflater` produced from the payload before `rest`. Chunks are the same 15 000-byte
/// slices of the one DEFLATE stream the reference SDK sends, published as soon as each
/// is full, so sending and the receiver's inflating overlap with compressing.
async fn send_compressing(
    transport: &dyn Transport,
    spec: HeaderSpec,
    total: u64,
    mut deflater: deflate::Deflater,
    out: Vec<u8>,
    rest: &[u8],
    progress: Option<&ProgressCallback>,
) -> Result<SentStream, StreamError> {
    let mut header = spec.header(Some(total));
    header.compression = proto::COMPRESSION_DEFLATE_RAW;
    publish(transport, spec.checked_header_packet(header)?).await?;
    let mut chunks = ChunkPublisher::new(transport, &spec, out);
    chunks.publish_ready(rest.is_empty()).await?;
    let mut consumed = total - rest.len() as u64;
    let mut pieces = rest.chunks(COMPRESS_FEED_BYTES).peekable();
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        deflater.feed(piece, last, chunks.buffer());
        chunks.publish_ready(last).await?;
        // What the published chunks carry, in payload bytes: the input fed so far, less
        // what still waits in the buffer (at most a chunk); reported as input consumed.
        consumed += piece.len() as u64;
        if let Some(progress) = progress {
            progress.report(if last { total } else { consumed }, total);
        }
    }
    chunks.end(String::new(), total, true).await
}

/// Streams a file as a chunked byte stream, compressed when eligible: never inline and
/// never read whole into memory, as the reference's `sendFile`.
pub(crate) async fn send_file(
    transport: &dyn Transport,
    spec: HeaderSpec,
    mut file: tokio::fs::File,
    size: u64,
    compression: Option<(u32, usize)>,
) -> Result<SentStream, StreamError> {
    use tokio::io::AsyncReadExt;

    let level = compression
        .filter(|&(_, min_bytes)| size >= min_bytes as u64)
        .map(|(level, _)| level);
    let compress = level.is_some();
    let mut header = spec.header(Some(size));
    if compress {
        header.compression = proto::COMPRESSION_DEFLATE_RAW;
    }
    publish(transport, spec.checked_header_packet(header)?).await?;
    let mut deflater = level.map(deflate::Deflater::new);
    let mut chunks = ChunkPublisher::new(
        transport,
        &spec,
        Vec::with_capacity(2 * proto::STREAM_CHUNK_SIZE_BYTES),
    );
    let mut buffer = vec![0u8; 64 * 1024];
    let mut read_total = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .await
            .map_err(|e| StreamError::SendFailed(format!("reading the file: {e}")))?;
        read_total += n as u64;
        let end = n == 0;
        match deflater.as_mut() {
            Some(d) => d.feed(&buffer[..n], end, chunks.buffer()),
            None => chunks.buffer().extend_from_slice(&buffer[..n]),
        }
        chunks.publish_ready(end).await?;
        if end {
            break;
        }
    }
    if read_total != size {
        // The file changed while it was sent; say so instead of ending normally.
        let reason = format!("file changed while sending: {read_total} of {size} bytes");
        chunks.end(reason.clone(), size, compress).await?;
        return Err(StreamError::SendFailed(reason));
    }
    chunks.end(String::new(), size, compress).await
}

/// Shared state of the incremental writers.
struct Writer {
    transport: Arc<dyn Transport>,
    spec: HeaderSpec,
    next_index: u64,
    closed: bool,
}

impl Writer {
    async fn open(
        transport: Arc<dyn Transport>,
        spec: HeaderSpec,
        total_length: Option<u64>,
    ) -> Result<Self, StreamError> {
        let header = spec.checked_header_packet(spec.header(total_length))?;
        publish(transport.as_ref(), header).await?;
        Ok(Self {
            transport,
            spec,
            next_index: 0,
            closed: false,
        })
    }

    async fn write_pieces(&mut self, pieces: Vec<&[u8]>) -> Result<(), StreamError> {
        if self.closed {
            return Err(StreamError::AlreadyClosed);
        }
        for piece in pieces {
            let packet = self.spec.chunk(self.next_index, piece.to_vec());
            self.next_index += 1;
            publish(self.transport.as_ref(), packet).await?;
        }
        Ok(())
    }

    async fn close(&mut self, reason: String) -> Result<(), StreamError> {
        if self.closed {
            return Err(StreamError::AlreadyClosed);
        }
        self.closed = true;
        publish(self.transport.as_ref(), self.spec.trailer(reason)).await
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A writer dropped without close would leave the receiver waiting forever; end the
        // stream abnormally so the receiver's reader errors instead.
        if self.closed {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let transport = self.transport.clone();
            let trailer = self.spec.trailer("writer dropped without close".into());
            handle.spawn(async move {
                let _ = transport.publish(trailer).await;
            });
        }
    }
}

/// An open outgoing text stream (never inline, never compressed, like the reference).
pub struct TextStreamWriter {
    writer: Writer,
}

/// An open outgoing byte stream (never inline, never compressed, like the reference).
pub struct ByteStreamWriter {
    writer: Writer,
}

impl TextStreamWriter {
    pub(crate) async fn open(
        transport: Arc<dyn Transport>,
        spec: HeaderSpec,
        total_length: Option<u64>,
    ) -> Result<Self, StreamError> {
        Ok(Self {
            writer: Writer::open(transport, spec, total_length).await?,
        })
    }

    /// The stream id.
    pub fn stream_id(&self) -> &str {
        &self.writer.spec.stream_id
    }

    /// Sends `text` as one or more chunks of at most 15 000 bytes, split on characters.
    pub async fn write(&mut self, text: &str) -> Result<(), StreamError> {
        let pieces = split_utf8(text.as_bytes(), proto::STREAM_CHUNK_SIZE_BYTES);
        self.writer.write_pieces(pieces).await
    }

    /// Ends the stream normally.
    pub async fn close(mut self) -> Result<(), StreamError> {
        self.writer.close(String::new()).await
    }

    /// Ends the stream with a reason; the receiver's reader fails with `AbnormalEnd`.
    pub async fn close_with_reason(mut self, reason: &str) -> Result<(), StreamError> {
        self.writer.close(reason.to_owned()).await
    }
}

impl ByteStreamWriter {
    pub(crate) async fn open(
        transport: Arc<dyn Transport>,
        spec: HeaderSpec,
        total_length: Option<u64>,
    ) -> Result<Self, StreamError> {
        Ok(Self {
            writer: Writer::open(transport, spec, total_length).await?,
        })
    }

    /// The stream id.
    pub fn stream_id(&self) -> &str {
        &self.writer.spec.stream_id
    }

    /// Sends `bytes` as one or more chunks of at most 15 000 bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        let pieces = bytes.chunks(proto::STREAM_CHUNK_SIZE_BYTES).collect();
        self.writer.write_pieces(pieces).await
    }

    /// Ends the stream normally.
    pub async fn close(mut self) -> Result<(), StreamError> {
        self.writer.close(String::new()).await
    }

    /// Ends the stream with a reason; the receiver's reader fails with `AbnormalEnd`.
    pub async fn close_with_reason(mut self, reason: &str) -> Result<(), StreamError> {
        self.writer.close(reason.to_owned()).await
    }
}
