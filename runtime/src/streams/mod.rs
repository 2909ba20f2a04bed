//! LiveKit data streams v1 and v2: sending text and bytes (chunked, inline, raw-DEFLATE
//! compressed, chosen per recipient as the reference SDK chooses) and receiving them
//! (reassembly, length checks, trailers, limits).

pub(crate) mod deflate;
pub(crate) mod incoming;
pub(crate) mod outgoing;
pub(crate) mod sender;
pub(crate) mod utf8;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

pub use crate::limits::StreamLimits;
pub use deflate::{
    COMPRESSION_MIN_BYTES, COMPRESSION_MIN_SAVING_PERCENT, COMPRESSION_PROBE_BYTES,
    DEFAULT_COMPRESSION_LEVEL,
};
pub use outgoing::{ByteStreamWriter, TextStreamWriter};
pub use utf8::split_utf8;

/// Why a stream failed; the variants follow the reference SDK's `DataStreamErrorReason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// A stream with this id is already open.
    #[error("a stream with id {0:?} is already open")]
    AlreadyOpened(String),
    /// The sender ended the stream with a reason, or left the room mid-stream.
    #[error("stream closed abnormally: {0}")]
    AbnormalEnd(String),
    /// The content is not valid UTF-8 (text streams) or not valid raw DEFLATE.
    #[error("stream content could not be decoded: {0}")]
    DecodeFailed(String),
    /// More bytes arrived than the header's `total_length` announced.
    #[error("extra chunk(s) received: {received} bytes, header announced {expected}")]
    LengthExceeded {
        /// Bytes received so far.
        received: u64,
        /// `total_length` from the header.
        expected: u64,
    },
    /// The stream ended before all announced bytes arrived, or a chunk is missing.
    #[error("not enough chunk(s) received: {0}")]
    Incomplete(String),
    /// The serialized header packet exceeds 15 000 bytes (attributes or topic too large).
    #[error("stream header is {size} bytes, more than the {max}-byte limit; shorten the topic or attributes")]
    HeaderTooLarge {
        /// Serialized size of the header packet.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The stream exceeds the receiver's size limit (decompressed bytes included).
    #[error("stream exceeds the receiver's limit of {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The receiver refused the stream because a per-sender limit was hit.
    #[error("stream refused: {0}")]
    LimitExceeded(String),
    /// The stream could not be published.
    #[error("failed to send stream: {0}")]
    SendFailed(String),
    /// `write` or `close` on a writer that is already closed.
    #[error("the stream is already closed")]
    AlreadyClosed,
}

/// Whether a stream carries text or bytes, with the kind-specific header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamKind {
    /// A text stream (`text_header`).
    Text,
    /// A byte stream (`byte_header`), with its file name.
    Bytes {
        /// `ByteHeader.name`.
        name: String,
    },
}

/// What the header of a stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Stream id (a UUID unless the sender chose one).
    pub id: String,
    /// Topic the stream was sent on.
    pub topic: String,
    /// MIME type.
    pub mime_type: String,
    /// Sender's timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// Uncompressed length announced by the sender, if any.
    pub total_length: Option<u64>,
    /// Text or bytes.
    pub kind: StreamKind,
    /// Ids of streams attached to a text stream (`TextHeader.attached_stream_ids`).
    pub attached_stream_ids: Vec<String>,
    /// Whether the stream arrived inline in its header packet.
    pub inline: bool,
    /// Whether the stream arrived raw-DEFLATE compressed.
    pub compressed: bool,
}

/// One delivered piece: text is validated once, where it is decoded, and kept as a String.
pub(crate) enum Piece {
    Text(String),
    Bytes(Vec<u8>),
}

impl Piece {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Piece::Text(t) => t.is_empty(),
            Piece::Bytes(b) => b.is_empty(),
        }
    }
}

pub(crate) type PieceReceiver = mpsc::UnboundedReceiver<Result<Piece, StreamError>>;

/// The receiving end of an incoming stream. Read pieces as they arrive with
/// [`StreamReader::next_chunk`], or everything with `read_all`.
pub struct StreamReader<T> {
    info: StreamInfo,
    sender_identity: String,
    attributes: Arc<Mutex<HashMap<String, String>>>,
    rx: PieceReceiver,
    done: bool,
    _kind: std::marker::PhantomData<fn() -> T>,
}

/// An incoming text stream.
pub type TextStreamReader = StreamReader<String>;
/// An incoming byte stream.
pub type ByteStreamReader = StreamReader<Vec<u8>>;

impl<T> StreamReader<T> {
    pub(crate) fn new(
        info: StreamInfo,
        sender_identity: String,
        attributes: Arc<Mutex<HashMap<String, String>>>,
        rx: PieceReceiver,
    ) -> Self {
        Self {
            info,
            sender_identity,
            attributes,
            rx,
            done: false,
            _kind: std::marker::PhantomData,
        }
    }

    /// The header's information.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Identity of the participant that sent the stream.
    pub fn sender_identity(&self) -> &str {
        &self.sender_identity
    }

    /// The stream's attributes: the header's, merged with the trailer's once it arrived.
    pub fn attributes(&self) -> HashMap<String, String> {
        self.attributes
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    async fn next_raw(&mut self) -> Option<Result<Piece, StreamError>> {
        if self.done {
            return None;
        }
        match self.rx.recv().await {
            Some(Ok(piece)) => Some(Ok(piece)),
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

impl StreamReader<String> {
    /// The next piece of text, `None` at the end of the stream.
    pub async fn next_chunk(&mut self) -> Option<Result<String, StreamError>> {
        Some(self.next_raw().await?.and_then(|piece| match piece {
            Piece::Text(text) => Ok(text),
            Piece::Bytes(bytes) => {
                String::from_utf8(bytes).map_err(|e| StreamError::DecodeFailed(e.to_string()))
            }
        }))
    }

    /// Reads the whole stream into one string.
    pub async fn read_all(mut self) -> Result<String, StreamError> {
        let mut all = String::new();
        while let Some(piece) = self.next_chunk().await {
            all.push_str(&piece?);
        }
        Ok(all)
    }
}

impl StreamReader<Vec<u8>> {
    /// The next piece of bytes, `None` at the end of the stream.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, StreamError>> {
        Some(self.next_raw().await?.map(|piece| match piece {
            Piece::Text(text) => text.into_bytes(),
            Piece::Bytes(bytes) => bytes,
        }))
    }

    /// Reads the whole stream into one buffer.
    pub async fn read_all(mut self) -> Result<Vec<u8>, StreamError> {
        let mut all = Vec::new();
        while let Some(piece) = self.next_chunk().await {
            all.extend_from_slice(&piece?);
        }
        Ok(all)
    }
}

/// Told how far a stream's payload has gone out: `(bytes, total)`, payload bytes (before
/// compression) published so far and in all, as livekit-client's `onProgress`.
///
/// ```
/// use livekit_typed_rpc::streams::{ProgressCallback, SendTextOptions};
/// let options = SendTextOptions {
///     on_progress: Some(ProgressCallback::new(|sent, total| println!("{sent}/{total}"))),
///     ..SendTextOptions::topic("files")
/// };
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct ProgressCallback(Arc<dyn Fn(u64, u64) + Send + Sync>);

impl ProgressCallback {
    /// Wraps `report`, called with `(bytes, total)` after each published piece.
    pub fn new(report: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        Self(Arc::new(report))
    }

    pub(crate) fn report(&self, bytes: u64, total: u64) {
        (self.0)(bytes, total)
    }
}

impl std::fmt::Debug for ProgressCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressCallback")
    }
}

/// Options for [`crate::Participant::send_text`].
#[derive(Debug, Clone)]
pub struct SendTextOptions {
    /// Topic receivers route on.
    pub topic: String,
    /// Header attributes.
    pub attributes: HashMap<String, String>,
    /// Recipients; empty sends to everyone else in the room.
    pub destination_identities: Vec<String>,
    /// Stream id; a fresh UUID when `None`.
    pub stream_id: Option<String>,
    /// Allow raw-DEFLATE compression where every recipient supports it (default `true`).
    pub compress: bool,
    /// Files sent first, as byte streams on the same topic, and named in the text's
    /// `attached_stream_ids` (a text with attachments never goes inline).
    pub attachments: Vec<std::path::PathBuf>,
    /// Told after each published piece how much of the text has gone out.
    pub on_progress: Option<ProgressCallback>,
}

impl Default for SendTextOptions {
    fn default() -> Self {
        Self {
            topic: String::new(),
            attributes: HashMap::new(),
            destination_identities: Vec::new(),
            stream_id: None,
            compress: true,
            attachments: Vec::new(),
            on_progress: None,
        }
    }
}

impl SendTextOptions {
    /// Options for `topic` with everything else at its default.
    pub fn topic(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            ..Default::default()
        }
    }
}

/// Options for [`crate::Participant::send_bytes`].
#[derive(Debug, Clone)]
pub struct SendBytesOptions {
    /// Topic receivers route on.
    pub topic: String,
    /// Header attributes.
    pub attributes: HashMap<String, String>,
    /// Recipients; empty sends to everyone else in the room.
    pub destination_identities: Vec<String>,
    /// Stream id; a fresh UUID when `None`.
    pub stream_id: Option<String>,
    /// MIME type (default `application/octet-stream`).
    pub mime_type: String,
    /// File name (default `unknown`).
    pub name: String,
    /// Allow raw-DEFLATE compression where every recipient supports it (default `true`).
    pub compress: bool,
}

impl Default for SendBytesOptions {
    fn default() -> Self {
        Self {
            topic: String::new(),
            attributes: HashMap::new(),
            destination_identities: Vec::new(),
            stream_id: None,
            mime_type: "application/octet-stream".into(),
            name: "unknown".into(),
            compress: true,
        }
    }
}

impl SendBytesOptions {
    /// Options for `topic` with everything else at its default.
    pub fn topic(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            ..Default::default()
        }
    }
}

/// Options for [`crate::Participant::send_file`].
#[derive(Debug, Clone)]
pub struct SendFileOptions {
    /// Topic receivers route on.
    pub topic: String,
    /// Header attributes.
    pub attributes: HashMap<String, String>,
    /// Recipients; empty sends to everyone else in the room.
    pub destination_identities: Vec<String>,
    /// MIME type (default `application/octet-stream`).
    pub mime_type: String,
    /// Name announced to receivers; the file's own name when `None`.
    pub name: Option<String>,
    /// Allow raw-DEFLATE compression where every recipient supports it (default `true`).
    pub compress: bool,
}

impl Default for SendFileOptions {
    fn default() -> Self {
        Self {
            topic: String::new(),
            attributes: HashMap::new(),
            destination_identities: Vec::new(),
            mime_type: "application/octet-stream".into(),
            name: None,
            compress: true,
        }
    }
}

/// Options for the incremental writers [`crate::Participant::stream_text`] and
/// [`crate::Participant::stream_bytes`], which never inline or compress.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Topic receivers route on.
    pub topic: String,
    /// Header attributes.
    pub attributes: HashMap<String, String>,
    /// Recipients; empty sends to everyone else in the room.
    pub destination_identities: Vec<String>,
    /// Stream id; a fresh UUID when `None`.
    pub stream_id: Option<String>,
    /// Total length to announce in the header, if known up front.
    pub total_length: Option<u64>,
    /// MIME type; defaults to `text/plain` or `application/octet-stream`.
    pub mime_type: Option<String>,
    /// File name of a byte stream (default `unknown`).
    pub name: Option<String>,
}

/// What a finished send put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentStream {
    /// The stream id.
    pub stream_id: String,
    /// Data packets published (header, chunks and trailer; 1 for an inline stream).
    pub packets: usize,
    /// The payload travelled inside the header packet.
    pub inline: bool,
    /// The payload travelled raw-DEFLATE compressed.
    pub compressed: bool,
    /// Payload bytes before compression.
    pub payload_bytes: u64,
    /// Payload bytes as they went on the wire (after compression).
    pub wire_payload_bytes: u64,
}
