//! A participant's sending side of data streams: every `send_*` and `stream_*` call decides
//! eligibility from the room's view of the recipients and builds its header here, once.

use std::sync::Arc;

use crate::room::{JoinOptions, RemoteRegistry, Transport};
use crate::streams::outgoing::{self, Eligibility, HeaderSpec};
use crate::streams::{
    ByteStreamWriter, SendBytesOptions, SendFileOptions, SendTextOptions, SentStream, StreamError,
    StreamOptions, TextStreamWriter,
};

/// Sends streams from one participant.
pub(crate) struct StreamSender {
    transport: Arc<dyn Transport>,
    remotes: RemoteRegistry,
    options: JoinOptions,
}

fn new_stream_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The header fields of a stream, with a fresh id unless one is given.
fn spec(
    stream_id: Option<String>,
    topic: String,
    mime_type: String,
    attributes: std::collections::HashMap<String, String>,
    content: crate::proto::data_stream::header::ContentHeader,
    destinations: Vec<String>,
) -> HeaderSpec {
    HeaderSpec {
        stream_id: stream_id.unwrap_or_else(new_stream_id),
        topic,
        mime_type,
        attributes,
        content,
        destinations,
    }
}

impl StreamSender {
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        remotes: RemoteRegistry,
        options: JoinOptions,
    ) -> Self {
        Self {
            transport,
            remotes,
            options,
        }
    }

    /// Where packets go.
    pub(crate) fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    fn eligibility(&self, destinations: &[String]) -> Eligibility {
        self.remotes.with(|remotes| {
            outgoing::eligibility(
                self.options.client_protocol,
                self.options.compression_enabled(),
                (
                    self.options.compression_level,
                    self.options.compression_min_bytes,
                ),
                destinations,
                remotes,
            )
        })
    }

    /// A complete text stream, with its attachments sent first as files.
    pub(crate) async fn send_text(
        &self,
        text: &str,
        options: SendTextOptions,
    ) -> Result<SentStream, StreamError> {
        let mut eligibility = self.eligibility(&options.destination_identities);
        let mut attached = Vec::with_capacity(options.attachments.len());
        for path in &options.attachments {
            let file_options = SendFileOptions {
                topic: options.topic.clone(),
                destination_identities: options.destination_identities.clone(),
                compress: options.compress,
                ..Default::default()
            };
            attached.push(self.send_file(path, file_options).await?.stream_id);
        }
        if !attached.is_empty() {
            eligibility.inline = false;
        }
        let spec = spec(
            options.stream_id,
            options.topic,
            "text/plain".into(),
            options.attributes,
            outgoing::text_content_with(attached),
            options.destination_identities,
        );
        outgoing::send_payload(
            self.transport.as_ref(),
            spec,
            text.as_bytes(),
            true,
            eligibility,
            options.compress,
            options.on_progress.as_ref(),
        )
        .await
    }

    /// A complete byte stream.
    pub(crate) async fn send_bytes(
        &self,
        data: &[u8],
        options: SendBytesOptions,
    ) -> Result<SentStream, StreamError> {
        let eligibility = self.eligibility(&options.destination_identities);
        let spec = spec(
            options.stream_id,
            options.topic,
            options.mime_type,
            options.attributes,
            outgoing::byte_content(options.name),
            options.destination_identities,
        );
        outgoing::send_payload(
            self.transport.as_ref(),
            spec,
            data,
            false,
            eligibility,
            options.compress,
            None,
        )
        .await
    }

    /// A file from disk, streamed without reading it whole.
    pub(crate) async fn send_file(
        &self,
        path: &std::path::Path,
        options: SendFileOptions,
    ) -> Result<SentStream, StreamError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| StreamError::SendFailed(format!("cannot open {}: {e}", path.display())))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| StreamError::SendFailed(format!("cannot read {}: {e}", path.display())))?
            .len();
        let name = options.name.unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "unknown".into())
        });
        let eligibility = self.eligibility(&options.destination_identities);
        let spec = spec(
            None,
            options.topic,
            options.mime_type,
            options.attributes,
            outgoing::byte_content(name),
            options.destination_identities,
        );
        outgoing::send_file(
            self.transport.as_ref(),
            spec,
            file,
            size,
            (eligibility.compress && options.compress)
                .then_some((eligibility.level, eligibility.min_bytes)),
        )
        .await
    }

    /// An incremental text stream (never inline, never compressed).
    pub(crate) async fn stream_text(
        &self,
        options: StreamOptions,
    ) -> Result<TextStreamWriter, StreamError> {
        let spec = spec(
            options.stream_id,
            options.topic,
            options.mime_type.unwrap_or_else(|| "text/plain".into()),
            options.attributes,
            outgoing::text_content(),
            options.destination_identities,
        );
        TextStreamWriter::open(self.transport.clone(), spec, options.total_length).await
    }

    /// An incremental byte stream (never inline, never compressed).
    pub(crate) async fn stream_bytes(
        &self,
        options: StreamOptions,
    ) -> Result<ByteStreamWriter, StreamError> {
        let spec = spec(
            options.stream_id,
            options.topic,
            options
                .mime_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            options.attributes,
            outgoing::byte_content(options.name.unwrap_or_else(|| "unknown".into())),
            options.destination_identities,
        );
        ByteStreamWriter::open(self.transport.clone(), spec, options.total_length).await
    }
}
