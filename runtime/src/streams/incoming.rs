//! Receiving data streams: reassembly by stream id, inline and compressed streams,
//! length checks, trailers, sender departure and the receiver's limits.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::proto::{self, data_stream};
use crate::streams::deflate::{self, InflateError, Inflater};
use crate::streams::utf8::Utf8Reframer;
use crate::streams::{
    ByteStreamReader, Piece, PieceReceiver, StreamError, StreamInfo, StreamKind, StreamLimits,
    StreamReader, TextStreamReader,
};

/// A stream whose header was accepted: hand the reader to whoever handles its topic.
pub(crate) enum Opened {
    Text(TextStreamReader),
    Bytes(ByteStreamReader),
}

type Sink = mpsc::UnboundedSender<Result<Piece, StreamError>>;

struct OpenStream {
    sender: String,
    /// Most bytes this stream may deliver (the stream limit, or the RPC payload limit).
    limit: u64,
    is_text: bool,
    total_length: Option<u64>,
    received: u64,
    next_index: u64,
    inflater: Option<Inflater>,
    reframer: Option<Utf8Reframer>,
    attributes: Arc<Mutex<HashMap<String, String>>>,
    sink: Sink,
}

/// The receive side of data streams for one participant.
pub(crate) struct IncomingStreams {
    limits: StreamLimits,
    local_protocol: i32,
    local_compression: bool,
    text_topics: HashSet<String>,
    byte_topics: HashSet<String>,
    /// Topics whose streams carry RPC payloads, with their tighter limit.
    capped_topics: HashMap<String, u64>,
    open: HashMap<String, OpenStream>,
    per_sender: HashMap<String, usize>,
}

fn inflate_error(e: InflateError, limit: u64) -> StreamError {
    match e {
        InflateError::TooLarge => StreamError::PayloadTooLarge { limit },
        InflateError::Corrupt(m) => StreamError::DecodeFailed(format!("invalid raw DEFLATE: {m}")),
        InflateError::Truncated => {
            StreamError::DecodeFailed("raw DEFLATE stream ended early".into())
        }
    }
}

/// Decoded bytes as a delivered piece; text is validated here, once.
fn into_piece(bytes: Vec<u8>, is_text: bool) -> Result<Piece, StreamError> {
    if is_text {
        String::from_utf8(bytes)
            .map(Piece::Text)
            .map_err(|e| StreamError::DecodeFailed(e.utf8_error().to_string()))
    } else {
        Ok(Piece::Bytes(bytes))
    }
}

fn announced(total_length: Option<u64>) -> Option<u64> {
    // The reference only checks lengths that are present and non-zero.
    total_length.filter(|t| *t > 0)
}

impl IncomingStreams {
    pub(crate) fn new(limits: StreamLimits, local_protocol: i32, local_compression: bool) -> Self {
        Self {
            limits,
            local_protocol,
            local_compression,
            text_topics: HashSet::new(),
            byte_topics: HashSet::new(),
            capped_topics: HashMap::new(),
            open: HashMap::new(),
            per_sender: HashMap::new(),
        }
    }

    /// Claims a topic; false if it already has a handler of that kind.
    pub(crate) fn claim_topic(&mut self, topic: &str, text: bool) -> bool {
        let set = if text {
            &mut self.text_topics
        } else {
            &mut self.byte_topics
        };
        set.insert(topic.to_owned())
    }

    /// Streams on `topic` may carry at most `limit` bytes (RPC payloads).
    pub(crate) fn cap_topic(&mut self, topic: &str, limit: u64) {
        self.capped_topics.insert(topic.to_owned(), limit);
    }

    pub(crate) fn release_topic(&mut self, topic: &str, text: bool) {
        if text {
            self.text_topics.remove(topic);
        } else {
            self.byte_topics.remove(topic);
        }
    }

    /// Number of streams currently being received.
    pub(crate) fn open_count(&self) -> usize {
        self.open.len()
    }

    pub(crate) fn handle_header(
        &mut self,
        sender: &str,
        header: data_stream::Header,
    ) -> Option<Opened> {
        let is_text = match &header.content_header {
            Some(data_stream::header::ContentHeader::TextHeader(_)) => true,
            Some(data_stream::header::ContentHeader::ByteHeader(_)) => false,
            None => {
                tracing::warn!(sender, stream_id = %header.stream_id, "stream header without content header dropped");
                return None;
            }
        };
        let handled = if is_text {
            self.text_topics.contains(&header.topic)
        } else {
            self.byte_topics.contains(&header.topic)
        };
        if !handled {
            tracing::debug!(sender, topic = %header.topic, "no handler for stream topic; stream ignored");
            return None;
        }
        if header.attributes.len() > self.limits.max_header_attributes {
            tracing::warn!(
                sender,
                stream_id = %header.stream_id,
                attributes = header.attributes.len(),
                limit = self.limits.max_header_attributes,
                "stream header with too many attributes dropped"
            );
            return None;
        }
        // Data streams v2 fields mean nothing to a participant that does not speak v2.
        let speaks_v2 = self.local_protocol >= proto::CLIENT_PROTOCOL_DATA_STREAM_V2;
        let compression = if speaks_v2 {
            header.compression
        } else {
            proto::COMPRESSION_NONE
        };
        let compressed = match compression {
            proto::COMPRESSION_NONE => false,
            proto::COMPRESSION_DEFLATE_RAW if self.local_compression => true,
            proto::COMPRESSION_DEFLATE_RAW => {
                tracing::warn!(sender, stream_id = %header.stream_id, "compressed stream dropped: compression not supported locally");
                return None;
            }
            other => {
                tracing::warn!(sender, stream_id = %header.stream_id, compression = other, "stream with unknown compression dropped");
                return None;
            }
        };
        let inline_content = if speaks_v2 {
            header.inline_content
        } else {
            None
        };
        if self.open.contains_key(&header.stream_id) {
            tracing::warn!(sender, error = %StreamError::AlreadyOpened(header.stream_id.clone()), "duplicate stream header dropped");
            return None;
        }
        let attached_stream_ids = match &header.content_header {
            Some(data_stream::header::ContentHeader::TextHeader(t)) => {
                t.attached_stream_ids.clone()
            }
            _ => Vec::new(),
        };
        let info = StreamInfo {
            id: header.stream_id.clone(),
            attached_stream_ids,
            topic: header.topic,
            mime_type: header.mime_type,
            timestamp: header.timestamp,
            total_length: header.total_length,
            kind: match header.content_header {
                Some(data_stream::header::ContentHeader::ByteHeader(b)) => {
                    StreamKind::Bytes { name: b.name }
                }
                _ => StreamKind::Text,
            },
            inline: inline_content.is_some(),
            compressed,
        };
        let attributes = Arc::new(Mutex::new(header.attributes));
        let (sink, rx) = mpsc::unbounded_channel();
        let limit = self
            .capped_topics
            .get(&info.topic)
            .map_or(self.limits.max_stream_bytes, |cap| {
                (*cap).min(self.limits.max_stream_bytes)
            });
        if info.total_length.is_some_and(|t| t > limit) {
            // Refuse up front: no byte of it is buffered.
            let e = StreamError::PayloadTooLarge { limit };
            tracing::warn!(sender, stream_id = %info.id, error = %e, "stream announces more than the limit");
            let _ = sink.send(Err(e));
            return Some(reader(info, sender, attributes, rx, is_text));
        }

        if let Some(content) = inline_content {
            let result =
                self.inline_payload(content, compressed, is_text, info.total_length, limit);
            if let Err(e) = &result {
                tracing::warn!(sender, stream_id = %info.id, error = %e, "inline stream failed");
            }
            let _ = sink.send(result);
            return Some(reader(info, sender, attributes, rx, is_text));
        }

        let count = self.per_sender.get(sender).copied().unwrap_or(0);
        if count >= self.limits.max_open_streams_per_sender {
            let e = StreamError::LimitExceeded(format!(
                "{sender} already has {count} open streams (limit {})",
                self.limits.max_open_streams_per_sender
            ));
            tracing::warn!(sender, stream_id = %info.id, error = %e, "stream refused");
            let _ = sink.send(Err(e));
            return Some(reader(info, sender, attributes, rx, is_text));
        }
        self.per_sender.insert(sender.to_owned(), count + 1);
        self.open.insert(
            info.id.clone(),
            OpenStream {
                sender: sender.to_owned(),
                limit,
                is_text,
                total_length: info.total_length,
                received: 0,
                next_index: 0,
                inflater: compressed.then(|| Inflater::new(limit)),
                reframer: (compressed && is_text).then(Utf8Reframer::default),
                attributes: attributes.clone(),
                sink,
            },
        );
        Some(reader(info, sender, attributes, rx, is_text))
    }

    fn inline_payload(
        &self,
        content: Vec<u8>,
        compressed: bool,
        is_text: bool,
        total_length: Option<u64>,
        limit: u64,
    ) -> Result<Piece, StreamError> {
        let bytes = if compressed {
            deflate::decompress(&content, limit).map_err(|e| inflate_error(e, limit))?
        } else {
            content
        };
        if bytes.len() as u64 > limit {
            return Err(StreamError::PayloadTooLarge { limit });
        }
        if let Some(expected) = announced(total_length) {
            let received = bytes.len() as u64;
            if received > expected {
                return Err(StreamError::LengthExceeded { received, expected });
            }
            if received < expected {
                return Err(StreamError::Incomplete(format!(
                    "{received} of {expected} bytes"
                )));
            }
        }
        into_piece(bytes, is_text)
    }

    pub(crate) fn handle_chunk(&mut self, sender: &str, chunk: data_stream::Chunk) {
        let Some(stream) = self.open.get_mut(&chunk.stream_id) else {
            tracing::debug!(sender, stream_id = %chunk.stream_id, "chunk for unknown stream ignored");
            return;
        };
        let limit = stream.limit;
        if stream.sender != sender {
            tracing::warn!(sender, stream_id = %chunk.stream_id, "chunk from a participant that did not open the stream ignored");
            return;
        }
        if chunk.chunk_index < stream.next_index {
            tracing::warn!(sender, stream_id = %chunk.stream_id, index = chunk.chunk_index, "repeated chunk index dropped");
            return;
        }
        if chunk.chunk_index > stream.next_index {
            let e = StreamError::Incomplete(format!(
                "chunk {} arrived where chunk {} was expected",
                chunk.chunk_index, stream.next_index
            ));
            self.fail(&chunk.stream_id, e);
            return;
        }
        stream.next_index += 1;
        if chunk.content.is_empty() {
            return;
        }
        let piece = match stream.inflater.as_mut() {
            Some(inflater) => match inflater.push(&chunk.content) {
                Ok(out) => out,
                Err(e) => {
                    self.fail(&chunk.stream_id, inflate_error(e, limit));
                    return;
                }
            },
            None => chunk.content,
        };
        if let Err(e) = self.deliver(&chunk.stream_id, piece) {
            self.fail(&chunk.stream_id, e);
        }
    }

    /// Counts, checks and forwards decoded bytes of an open stream.
    fn deliver(&mut self, stream_id: &str, piece: Vec<u8>) -> Result<(), StreamError> {
        let Some(stream) = self.open.get_mut(stream_id) else {
            return Ok(());
        };
        let limit = stream.limit;
        stream.received += piece.len() as u64;
        if stream.received > limit {
            return Err(StreamError::PayloadTooLarge { limit });
        }
        if let Some(expected) = announced(stream.total_length) {
            if stream.received > expected {
                return Err(StreamError::LengthExceeded {
                    received: stream.received,
                    expected,
                });
            }
        }
        let piece = match stream.reframer.as_mut() {
            Some(reframer) => Piece::Text(
                reframer
                    .push(piece)
                    .map_err(|e| StreamError::DecodeFailed(e.to_string()))?,
            ),
            // Uncompressed text chunks are decoded one by one, as the reference does.
            None => into_piece(piece, stream.is_text)?,
        };
        if piece.is_empty() {
            return Ok(());
        }
        if stream.sink.send(Ok(piece)).is_err() {
            // Nobody reads this stream any more: stop buffering it.
            tracing::debug!(stream_id, "reader dropped; stream discarded");
            self.remove(stream_id);
        }
        Ok(())
    }

    pub(crate) fn handle_trailer(&mut self, sender: &str, trailer: data_stream::Trailer) {
        let max_attributes = self.limits.max_header_attributes;
        let Some(stream) = self.open.get_mut(&trailer.stream_id) else {
            tracing::debug!(sender, stream_id = %trailer.stream_id, "trailer for unknown stream ignored");
            return;
        };
        let limit = stream.limit;
        if stream.sender != sender {
            tracing::warn!(sender, stream_id = %trailer.stream_id, "trailer from a participant that did not open the stream ignored");
            return;
        }
        if let Ok(mut attributes) = stream.attributes.lock() {
            for (k, v) in trailer.attributes {
                if attributes.len() < max_attributes || attributes.contains_key(&k) {
                    attributes.insert(k, v);
                }
            }
        }
        if !trailer.reason.is_empty() {
            let e = StreamError::AbnormalEnd(trailer.reason);
            self.fail(&trailer.stream_id, e);
            return;
        }
        let tail = match stream.inflater.as_mut() {
            Some(inflater) => match inflater.finish() {
                Ok(out) => out,
                Err(e) => {
                    self.fail(&trailer.stream_id, inflate_error(e, limit));
                    return;
                }
            },
            None => Vec::new(),
        };
        if !tail.is_empty() {
            if let Err(e) = self.deliver(&trailer.stream_id, tail) {
                self.fail(&trailer.stream_id, e);
                return;
            }
        }
        let Some(stream) = self.open.get_mut(&trailer.stream_id) else {
            return;
        };
        if let Some(reframer) = stream.reframer.as_mut() {
            if reframer.finish().is_err() {
                let e = StreamError::DecodeFailed("text ends inside a UTF-8 character".into());
                self.fail(&trailer.stream_id, e);
                return;
            }
        }
        if let Some(expected) = announced(stream.total_length) {
            if stream.received < expected {
                let e = StreamError::Incomplete(format!(
                    "{} of {expected} bytes before the trailer",
                    stream.received
                ));
                self.fail(&trailer.stream_id, e);
                return;
            }
        }
        self.remove(&trailer.stream_id);
    }

    /// Errors every stream the departed participant was still sending.
    pub(crate) fn sender_left(&mut self, sender: &str) {
        let ids: Vec<String> = self
            .open
            .iter()
            .filter(|(_, s)| s.sender == sender)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let e = StreamError::AbnormalEnd(format!(
                "participant {sender} unexpectedly disconnected in the middle of sending data"
            ));
            self.fail(&id, e);
        }
    }

    /// Errors every open stream (the local participant is leaving).
    pub(crate) fn close_all(&mut self, reason: &str) {
        let ids: Vec<String> = self.open.keys().cloned().collect();
        for id in ids {
            self.fail(&id, StreamError::AbnormalEnd(reason.to_owned()));
        }
    }

    fn fail(&mut self, stream_id: &str, error: StreamError) {
        if let Some(stream) = self.remove(stream_id) {
            tracing::warn!(sender = %stream.sender, stream_id, error = %error, "incoming stream failed");
            let _ = stream.sink.send(Err(error));
        }
    }

    fn remove(&mut self, stream_id: &str) -> Option<OpenStream> {
        let stream = self.open.remove(stream_id)?;
        if let Some(count) = self.per_sender.get_mut(&stream.sender) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_sender.remove(&stream.sender);
            }
        }
        Some(stream)
    }
}

fn reader(
    info: StreamInfo,
    sender: &str,
    attributes: Arc<Mutex<HashMap<String, String>>>,
    rx: PieceReceiver,
    is_text: bool,
) -> Opened {
    if is_text {
        Opened::Text(StreamReader::new(info, sender.to_owned(), attributes, rx))
    } else {
        Opened::Bytes(StreamReader::new(info, sender.to_owned(), attributes, rx))
    }
}
