//! Data streams, send and receive side: every case of the reference SDK's
//! `IncomingDataStreamManager.test.ts` and `OutgoingDataStreamManager.test.ts`
//! (livekit-client 2.23), as Rust tests asserting on the packets that cross the room.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use livekit_typed_rpc::proto::{self, data_packet, DataPacket};
use livekit_typed_rpc::streams::{
    ByteStreamReader, SendBytesOptions, SendTextOptions, StreamError, StreamKind, StreamLimits,
    StreamOptions, TextStreamReader,
};
use livekit_typed_rpc::{JoinOptions, MemoryRoom, Participant};
use support::*;
use tokio::sync::mpsc;

const TOPIC: &str = "t";

struct Receiver {
    participant: Participant,
    texts: mpsc::UnboundedReceiver<TextStreamReader>,
    bytes: mpsc::UnboundedReceiver<ByteStreamReader>,
}

impl Receiver {
    async fn join(room: &MemoryRoom, identity: &str, options: JoinOptions) -> Self {
        let participant = room.join_with(identity, options).await.unwrap();
        let (ttx, texts) = mpsc::unbounded_channel();
        let (btx, bytes) = mpsc::unbounded_channel();
        participant
            .register_text_stream_handler(TOPIC, move |r| {
                let _ = ttx.send(r);
            })
            .unwrap();
        participant
            .register_byte_stream_handler(TOPIC, move |r| {
                let _ = btx.send(r);
            })
            .unwrap();
        Self {
            participant,
            texts,
            bytes,
        }
    }

    async fn text(&mut self) -> TextStreamReader {
        tokio::time::timeout(Duration::from_secs(5), self.texts.recv())
            .await
            .expect("no text stream arrived")
            .unwrap()
    }

    async fn bytes(&mut self) -> ByteStreamReader {
        tokio::time::timeout(Duration::from_secs(5), self.bytes.recv())
            .await
            .expect("no byte stream arrived")
            .unwrap()
    }

    async fn no_text(&mut self) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(self.texts.try_recv().is_err(), "a text stream was opened");
    }

    async fn no_bytes(&mut self) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(self.bytes.try_recv().is_err(), "a byte stream was opened");
    }
}

async fn setup(protocol: i32, compression: bool) -> (MemoryRoom, RawPeer, Receiver) {
    let room = MemoryRoom::new();
    let rx = Receiver::join(&room, "rx", options(protocol, compression)).await;
    let tx = RawPeer::join(&room, "tx", 2, true);
    (room, tx, rx)
}

async fn read_text(r: TextStreamReader) -> Result<String, StreamError> {
    tokio::time::timeout(Duration::from_secs(5), r.read_all())
        .await
        .expect("stream never ended")
}

async fn read_bytes(r: ByteStreamReader) -> Result<Vec<u8>, StreamError> {
    tokio::time::timeout(Duration::from_secs(5), r.read_all())
        .await
        .expect("stream never ended")
}

// ---------------------------------------------------------------- receive side, v1

#[tokio::test]
async fn incoming_v1_text_stream() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, Some(11))))
        .await;
    tx.send("rx", chunk("s1", 0, b"hello ")).await;
    tx.send("rx", chunk("s1", 1, b"world")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    let reader = rx.text().await;
    assert_eq!(reader.info().id, "s1");
    assert_eq!(reader.sender_identity(), "tx");
    assert_eq!(reader.info().kind, StreamKind::Text);
    assert!(!reader.info().inline && !reader.info().compressed);
    assert_eq!(read_text(reader).await.unwrap(), "hello world");
}

#[tokio::test]
async fn incoming_v1_text_stream_read_incrementally() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, None)))
        .await;
    tx.send("rx", chunk("s1", 0, "héllo ".as_bytes())).await;
    let mut reader = rx.text().await;
    assert_eq!(reader.next_chunk().await.unwrap().unwrap(), "héllo ");
    tx.send("rx", chunk("s1", 1, b"world")).await;
    assert_eq!(reader.next_chunk().await.unwrap().unwrap(), "world");
    tx.send("rx", trailer("s1", "", &[])).await;
    assert!(reader.next_chunk().await.is_none());
}

#[tokio::test]
async fn incoming_v1_bytes_stream() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(byte_header("b1", TOPIC, Some(4))))
        .await;
    tx.send("rx", chunk("b1", 0, &[0, 1])).await;
    tx.send("rx", chunk("b1", 1, &[255, 254])).await;
    tx.send("rx", trailer("b1", "", &[])).await;
    let reader = rx.bytes().await;
    assert_eq!(
        reader.info().kind,
        StreamKind::Bytes {
            name: "file.bin".into()
        }
    );
    assert_eq!(read_bytes(reader).await.unwrap(), vec![0, 1, 255, 254]);
}

#[tokio::test]
async fn incoming_v1_text_with_file_attachments() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let mut h = text_header("s1", TOPIC, None);
    h.content_header = Some(proto::data_stream::header::ContentHeader::TextHeader(
        proto::data_stream::TextHeader {
            attached_stream_ids: vec!["f1".into(), "f2".into()],
            ..Default::default()
        },
    ));
    tx.send("rx", header_packet(h)).await;
    tx.send("rx", chunk("s1", 0, b"see attached")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    let reader = rx.text().await;
    assert_eq!(reader.info().attached_stream_ids, vec!["f1", "f2"]);
    assert_eq!(read_text(reader).await.unwrap(), "see attached");
}

#[tokio::test]
async fn incoming_packets_before_the_dispatcher_runs_are_buffered_in_order() {
    // The reference buffers packets that arrive before the room is connected; here the
    // whole stream is queued on the link before the receiving participant exists.
    let room = MemoryRoom::new();
    let conn = room.connect("rx", options(2, true)).unwrap();
    let tx = RawPeer::join(&room, "tx", 2, true);
    tx.send("rx", header_packet(text_header("s1", TOPIC, Some(2))))
        .await;
    tx.send("rx", chunk("s1", 0, b"ok")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    // Register the handler before the dispatcher sees the queued events.
    let participant = Participant::new(conn);
    let (ttx, mut texts) = mpsc::unbounded_channel();
    participant
        .register_text_stream_handler(TOPIC, move |r| {
            let _ = ttx.send(r);
        })
        .unwrap();
    let reader = tokio::time::timeout(Duration::from_secs(5), texts.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_text(reader).await.unwrap(), "ok");
}

#[tokio::test]
async fn incoming_merges_trailer_attributes() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let mut h = text_header("s1", TOPIC, None);
    h.attributes = HashMap::from([("a".into(), "1".into()), ("b".into(), "1".into())]);
    tx.send("rx", header_packet(h)).await;
    tx.send("rx", chunk("s1", 0, b"x")).await;
    let mut reader = rx.text().await;
    assert_eq!(reader.attributes().get("b").map(String::as_str), Some("1"));
    tx.send("rx", trailer("s1", "", &[("b", "2"), ("c", "3")]))
        .await;
    while let Some(piece) = reader.next_chunk().await {
        piece.unwrap();
    }
    let attrs = reader.attributes();
    assert_eq!(attrs.get("a").map(String::as_str), Some("1"));
    assert_eq!(attrs.get("b").map(String::as_str), Some("2"));
    assert_eq!(attrs.get("c").map(String::as_str), Some("3"));
}

#[tokio::test]
async fn incoming_drops_encrypted_packets_it_cannot_decrypt() {
    // The reference drops a chunk whose encryption differs from its header's; we do not
    // do end-to-end encryption, so any encrypted packet is dropped and the plain stream
    // continues unharmed.
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, Some(2))))
        .await;
    tx.send(
        "rx",
        data_packet::Value::EncryptedPacket(proto::EncryptedPacket {
            encryption_type: 1,
            iv: vec![0; 12],
            key_index: 0,
            encrypted_value: vec![1, 2, 3],
        }),
    )
    .await;
    tx.send("rx", chunk("s1", 0, b"ok")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    assert_eq!(read_text(rx.text().await).await.unwrap(), "ok");
}

#[tokio::test]
async fn incoming_too_few_bytes_is_incomplete() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, Some(10))))
        .await;
    tx.send("rx", chunk("s1", 0, b"abc")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    let err = read_text(rx.text().await).await.unwrap_err();
    assert!(matches!(err, StreamError::Incomplete(_)), "{err:?}");
    assert_eq!(rx.participant.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn incoming_too_many_bytes_is_length_exceeded() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, Some(2))))
        .await;
    tx.send("rx", chunk("s1", 0, b"abc")).await;
    let err = read_text(rx.text().await).await.unwrap_err();
    assert_eq!(
        err,
        StreamError::LengthExceeded {
            received: 3,
            expected: 2
        }
    );
}

#[tokio::test]
async fn incoming_sender_disconnect_mid_stream_errors_reader() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, None)))
        .await;
    tx.send("rx", chunk("s1", 0, b"partial")).await;
    let mut reader = rx.text().await;
    assert_eq!(reader.next_chunk().await.unwrap().unwrap(), "partial");
    tx.transport.leave();
    let err = reader.next_chunk().await.unwrap().unwrap_err();
    assert!(
        matches!(&err, StreamError::AbnormalEnd(m) if m.contains("tx unexpectedly disconnected")),
        "{err:?}"
    );
    assert_eq!(rx.participant.diagnostics().open_incoming_streams, 0);
}

// ---------------------------------------------------------------- receive side, v2

fn inline_header(
    id: &str,
    text: bool,
    content: &[u8],
    compressed: bool,
    total: u64,
) -> data_packet::Value {
    let mut h = if text {
        text_header(id, TOPIC, Some(total))
    } else {
        byte_header(id, TOPIC, Some(total))
    };
    h.inline_content = Some(content.to_vec());
    h.compression = if compressed {
        proto::COMPRESSION_DEFLATE_RAW
    } else {
        proto::COMPRESSION_NONE
    };
    header_packet(h)
}

#[tokio::test]
async fn incoming_v2_single_packet_uncompressed_text() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send(
        "rx",
        inline_header("s1", true, "inline ✓".as_bytes(), false, 10),
    )
    .await;
    let reader = rx.text().await;
    assert!(reader.info().inline && !reader.info().compressed);
    assert_eq!(read_text(reader).await.unwrap(), "inline ✓");
    assert_eq!(rx.participant.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn incoming_v2_single_packet_uncompressed_bytes() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", inline_header("b1", false, &[9, 8, 7], false, 3))
        .await;
    assert_eq!(read_bytes(rx.bytes().await).await.unwrap(), vec![9, 8, 7]);
}

#[tokio::test]
async fn incoming_v2_single_packet_compressed_text() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let text = "compress me ".repeat(100);
    tx.send(
        "rx",
        inline_header(
            "s1",
            true,
            &deflate_raw(text.as_bytes()),
            true,
            text.len() as u64,
        ),
    )
    .await;
    let reader = rx.text().await;
    assert!(reader.info().inline && reader.info().compressed);
    assert_eq!(read_text(reader).await.unwrap(), text);
}

#[tokio::test]
async fn incoming_v2_single_packet_compressed_bytes() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let data = vec![7u8; 5000];
    tx.send(
        "rx",
        inline_header("b1", false, &deflate_raw(&data), true, 5000),
    )
    .await;
    assert_eq!(read_bytes(rx.bytes().await).await.unwrap(), data);
}

async fn send_compressed_chunked(tx: &RawPeer, id: &str, text: bool, data: &[u8], piece: usize) {
    let mut h = if text {
        text_header(id, TOPIC, Some(data.len() as u64))
    } else {
        byte_header(id, TOPIC, Some(data.len() as u64))
    };
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    tx.send("rx", header_packet(h)).await;
    for (i, c) in deflate_raw(data).chunks(piece).enumerate() {
        tx.send("rx", chunk(id, i as u64, c)).await;
    }
    tx.send("rx", trailer(id, "", &[])).await;
}

#[tokio::test]
async fn incoming_v2_multi_packet_compressed_text() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let text = incompressible_text(100_000, 3);
    send_compressed_chunked(&tx, "s1", true, text.as_bytes(), 15_000).await;
    let reader = rx.text().await;
    assert!(!reader.info().inline && reader.info().compressed);
    assert_eq!(read_text(reader).await.unwrap(), text);
}

#[tokio::test]
async fn incoming_v2_multi_packet_compressed_bytes() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let data = incompressible(60_000, 5);
    send_compressed_chunked(&tx, "b1", false, &data, 15_000).await;
    assert_eq!(read_bytes(rx.bytes().await).await.unwrap(), data);
}

#[tokio::test]
async fn incoming_v2_ignores_compressed_text_without_decompression_support() {
    let (_room, tx, mut rx) = setup(2, false).await;
    tx.send(
        "rx",
        inline_header("s1", true, &deflate_raw(b"zzzzzzzz"), true, 8),
    )
    .await;
    send_compressed_chunked(&tx, "s2", true, b"zzzzzzzzzzzz", 15_000).await;
    rx.no_text().await;
}

#[tokio::test]
async fn incoming_v2_ignores_compressed_bytes_without_decompression_support() {
    let (_room, tx, mut rx) = setup(2, false).await;
    tx.send(
        "rx",
        inline_header("b1", false, &deflate_raw(&[1; 100]), true, 100),
    )
    .await;
    rx.no_bytes().await;
}

#[tokio::test]
async fn incoming_v2_zero_length_single_packet_text() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", inline_header("s1", true, b"", false, 0))
        .await;
    assert_eq!(read_text(rx.text().await).await.unwrap(), "");
}

#[tokio::test]
async fn incoming_v2_zero_length_single_packet_bytes() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", inline_header("b1", false, b"", false, 0))
        .await;
    assert_eq!(
        read_bytes(rx.bytes().await).await.unwrap(),
        Vec::<u8>::new()
    );
}

#[tokio::test]
async fn incoming_v2_drops_duplicate_chunk_index_on_compressed_stream() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let data = incompressible(30_000, 9);
    let compressed = deflate_raw(&data);
    let mut h = byte_header("b1", TOPIC, Some(30_000));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    tx.send("rx", header_packet(h)).await;
    let pieces: Vec<&[u8]> = compressed.chunks(15_000).collect();
    tx.send("rx", chunk("b1", 0, pieces[0])).await;
    tx.send("rx", chunk("b1", 0, pieces[0])).await; // repeat: dropped
    for (i, p) in pieces.iter().enumerate().skip(1) {
        tx.send("rx", chunk("b1", i as u64, p)).await;
    }
    tx.send("rx", trailer("b1", "", &[])).await;
    assert_eq!(read_bytes(rx.bytes().await).await.unwrap(), data);
}

#[tokio::test]
async fn incoming_v2_errors_on_chunk_index_gap() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let compressed = deflate_raw(&incompressible(40_000, 1));
    let mut h = byte_header("b1", TOPIC, Some(40_000));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    tx.send("rx", header_packet(h)).await;
    tx.send("rx", chunk("b1", 0, &compressed[..15_000])).await;
    tx.send("rx", chunk("b1", 2, &compressed[30_000..])).await;
    let err = read_bytes(rx.bytes().await).await.unwrap_err();
    assert!(
        matches!(&err, StreamError::Incomplete(m) if m.contains("chunk 2")),
        "{err:?}"
    );
}

#[tokio::test]
async fn incoming_v2_reframes_utf8_across_chunk_boundaries_when_decompressing() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let text = "😀é€".repeat(10_000);
    // Tiny compressed pieces guarantee multi-byte characters straddle the boundaries.
    send_compressed_chunked(&tx, "s1", true, text.as_bytes(), 7).await;
    let mut reader = rx.text().await;
    let mut all = String::new();
    while let Some(piece) = reader.next_chunk().await {
        all.push_str(&piece.unwrap());
    }
    assert_eq!(all, text);
}

#[tokio::test]
async fn incoming_v2_decompressed_shorter_than_total_length_errors() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send(
        "rx",
        inline_header("s1", true, &deflate_raw(b"abc"), true, 10),
    )
    .await;
    assert!(matches!(
        read_text(rx.text().await).await,
        Err(StreamError::Incomplete(_))
    ));
    let mut h = text_header("s2", TOPIC, Some(10));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    tx.send("rx", header_packet(h)).await;
    tx.send("rx", chunk("s2", 0, &deflate_raw(b"abc"))).await;
    tx.send("rx", trailer("s2", "", &[])).await;
    assert!(matches!(
        read_text(rx.text().await).await,
        Err(StreamError::Incomplete(_))
    ));
}

#[tokio::test]
async fn incoming_v2_decompressed_longer_than_total_length_errors() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send(
        "rx",
        inline_header("s1", true, &deflate_raw(b"abcdef"), true, 3),
    )
    .await;
    assert!(matches!(
        read_text(rx.text().await).await,
        Err(StreamError::LengthExceeded {
            received: 6,
            expected: 3
        })
    ));
    let mut h = text_header("s2", TOPIC, Some(3));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    tx.send("rx", header_packet(h)).await;
    tx.send("rx", chunk("s2", 0, &deflate_raw(b"abcdef"))).await;
    assert!(matches!(
        read_text(rx.text().await).await,
        Err(StreamError::LengthExceeded { .. })
    ));
}

#[tokio::test]
async fn incoming_v2_trailer_attributes_on_compressed_stream() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let mut h = text_header("s1", TOPIC, Some(4));
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    tx.send("rx", header_packet(h)).await;
    tx.send("rx", chunk("s1", 0, &deflate_raw(b"data"))).await;
    tx.send("rx", trailer("s1", "", &[("done", "yes")])).await;
    let mut reader = rx.text().await;
    let mut all = String::new();
    while let Some(p) = reader.next_chunk().await {
        all += &p.unwrap();
    }
    assert_eq!(all, "data");
    assert_eq!(
        reader.attributes().get("done").map(String::as_str),
        Some("yes")
    );
}

#[tokio::test]
async fn incoming_v2_unknown_compression_type_ignored() {
    let (_room, tx, mut rx) = setup(2, true).await;
    let mut h = text_header("s1", TOPIC, Some(1));
    h.inline_content = Some(b"x".to_vec());
    h.compression = 7;
    tx.send("rx", header_packet(h)).await;
    rx.no_text().await;
}

#[tokio::test]
async fn incoming_v2_fields_mean_nothing_to_a_protocol_1_receiver() {
    // A receiver that advertises 1 behaves like an SDK from before data streams v2: the
    // inline content is an unknown field, so the stream waits for chunks.
    let (_room, tx, mut rx) = setup(1, false).await;
    tx.send("rx", inline_header("s1", true, b"hidden", false, 2))
        .await;
    tx.send("rx", chunk("s1", 0, b"ok")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    let reader = rx.text().await;
    assert!(!reader.info().inline);
    assert_eq!(read_text(reader).await.unwrap(), "ok");
}

// ---------------------------------------------------------------- receive side, edge cases

#[tokio::test]
async fn incoming_duplicate_text_stream_id_rejected() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, None)))
        .await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, None)))
        .await;
    tx.send("rx", chunk("s1", 0, b"one")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    assert_eq!(read_text(rx.text().await).await.unwrap(), "one");
    rx.no_text().await;
}

#[tokio::test]
async fn incoming_duplicate_byte_stream_id_rejected() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(byte_header("b1", TOPIC, None)))
        .await;
    tx.send("rx", header_packet(byte_header("b1", TOPIC, None)))
        .await;
    tx.send("rx", trailer("b1", "", &[])).await;
    assert_eq!(
        read_bytes(rx.bytes().await).await.unwrap(),
        Vec::<u8>::new()
    );
    rx.no_bytes().await;
}

#[tokio::test]
async fn incoming_empty_chunks_ignored() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, Some(2))))
        .await;
    tx.send("rx", chunk("s1", 0, b"")).await;
    tx.send("rx", chunk("s1", 1, b"ok")).await;
    tx.send("rx", trailer("s1", "", &[])).await;
    let mut reader = rx.text().await;
    assert_eq!(reader.next_chunk().await.unwrap().unwrap(), "ok");
    assert!(reader.next_chunk().await.is_none());
}

#[tokio::test]
async fn incoming_without_handler_silently_dropped() {
    let (_room, tx, mut rx) = setup(2, true).await;
    // No trailer: a stream nobody handles must not even be tracked while it is open.
    tx.send(
        "rx",
        header_packet(text_header("s1", "nobody-listens", None)),
    )
    .await;
    tx.send("rx", chunk("s1", 0, b"x")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rx.participant.diagnostics().open_incoming_streams, 0);
    rx.no_text().await;
    // The same stream on a handled topic is tracked until it ends: the count can tell.
    tx.send("rx", header_packet(text_header("s2", TOPIC, None)))
        .await;
    let _reader = rx.text().await;
    assert_eq!(rx.participant.diagnostics().open_incoming_streams, 1);
}

#[tokio::test]
async fn incoming_abnormal_trailer_reason_errors_reader() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, None)))
        .await;
    tx.send("rx", chunk("s1", 0, b"x")).await;
    tx.send("rx", trailer("s1", "cancelled by user", &[])).await;
    assert_eq!(
        read_text(rx.text().await).await,
        Err(StreamError::AbnormalEnd("cancelled by user".into()))
    );
}

fn small_limit_options() -> JoinOptions {
    JoinOptions {
        stream_limits: StreamLimits {
            max_stream_bytes: 1 << 20,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn incoming_inline_decompression_bomb_is_payload_too_large() {
    let room = MemoryRoom::new();
    let mut rx = Receiver::join(&room, "rx", small_limit_options()).await;
    let tx = RawPeer::join(&room, "tx", 2, true);
    let bomb = deflate_raw(&vec![0u8; 50 << 20]);
    assert!(bomb.len() < 15_000 * 4);
    let mut h = byte_header("b1", TOPIC, Some(50 << 20));
    h.inline_content = Some(bomb);
    h.compression = proto::COMPRESSION_DEFLATE_RAW;
    tx.send("rx", header_packet(h)).await;
    assert_eq!(
        read_bytes(rx.bytes().await).await,
        Err(StreamError::PayloadTooLarge { limit: 1 << 20 })
    );
}

#[tokio::test]
async fn incoming_chunked_decompression_bomb_is_payload_too_large() {
    let room = MemoryRoom::new();
    let mut rx = Receiver::join(&room, "rx", small_limit_options()).await;
    let tx = RawPeer::join(&room, "tx", 2, true);
    send_compressed_chunked(&tx, "b1", false, &vec![0u8; 50 << 20], 15_000).await;
    assert_eq!(
        read_bytes(rx.bytes().await).await,
        Err(StreamError::PayloadTooLarge { limit: 1 << 20 })
    );
    assert_eq!(rx.participant.diagnostics().open_incoming_streams, 0);
}

#[tokio::test]
async fn incoming_invalid_utf8_chunk_is_decode_failed() {
    let (_room, tx, mut rx) = setup(2, true).await;
    tx.send("rx", header_packet(text_header("s1", TOPIC, None)))
        .await;
    tx.send("rx", chunk("s1", 0, &[0xe2, 0x82])).await; // half of '€'
    assert!(matches!(
        read_text(rx.text().await).await,
        Err(StreamError::DecodeFailed(_))
    ));
}

// ---------------------------------------------------------------- send side

struct SendRoom {
    room: MemoryRoom,
    sender: Participant,
    peers: Vec<RawPeer>,
}

/// A sender (protocol 2, compression on unless said otherwise) and raw peers with the
/// given (protocol, compression) pairs, named p0, p1, ...
async fn send_room(peers: &[(i32, bool)], sender: JoinOptions) -> SendRoom {
    let room = MemoryRoom::new();
    let peers: Vec<RawPeer> = peers
        .iter()
        .enumerate()
        .map(|(i, (p, c))| RawPeer::join(&room, &format!("p{i}"), *p, *c))
        .collect();
    let sender = room.join_with("sender", sender).await.unwrap();
    SendRoom {
        room,
        sender,
        peers,
    }
}

fn to(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn text_opts(dest: &[&str]) -> SendTextOptions {
    SendTextOptions {
        topic: TOPIC.into(),
        destination_identities: to(dest),
        ..Default::default()
    }
}

fn byte_opts(dest: &[&str]) -> SendBytesOptions {
    SendBytesOptions {
        topic: TOPIC.into(),
        destination_identities: to(dest),
        ..Default::default()
    }
}

fn chunk_sizes(packets: &[DataPacket]) -> Vec<usize> {
    packets
        .iter()
        .filter_map(|p| match &p.value {
            Some(data_packet::Value::StreamChunk(c)) => Some(c.content.len()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn outgoing_v1_room_short_text_is_legacy_multi_packet() {
    let mut r = send_room(&[(1, false)], JoinOptions::default()).await;
    let sent = r
        .sender
        .send_text("short", text_opts(&["p0"]))
        .await
        .unwrap();
    assert_eq!(
        (sent.packets, sent.inline, sent.compressed),
        (3, false, false)
    );
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!(packets, 3);
    assert_eq!(h.total_length, Some(5));
    assert_eq!(h.compression, proto::COMPRESSION_NONE);
    assert_eq!(h.mime_type, "text/plain");
    assert_eq!(content, b"short");
}

#[tokio::test]
async fn outgoing_v1_room_long_text_splits_at_15000_bytes() {
    let mut r = send_room(&[(0, false)], JoinOptions::default()).await;
    let text = "a".repeat(40_000);
    let rec = r.room.record_packets();
    let sent = r.sender.send_text(&text, text_opts(&["p0"])).await.unwrap();
    assert_eq!(sent.packets, 5);
    assert_eq!(
        chunk_sizes(&rec.take().into_iter().map(|p| p.packet).collect::<Vec<_>>()),
        vec![15_000, 15_000, 10_000]
    );
    let (_, content, _) = r.peers[0].next_stream().await;
    assert_eq!(content, text.as_bytes());
}

#[tokio::test]
async fn outgoing_v1_room_short_and_long_bytes() {
    let mut r = send_room(&[(1, true)], JoinOptions::default()).await;
    let rec = r.room.record_packets();
    r.sender
        .send_bytes(&[1, 2, 3], byte_opts(&["p0"]))
        .await
        .unwrap();
    let data = incompressible(31_000, 2);
    r.sender
        .send_bytes(&data, byte_opts(&["p0"]))
        .await
        .unwrap();
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!((packets, content), (3, vec![1, 2, 3]));
    assert_eq!(h.mime_type, "application/octet-stream");
    let (_, content, packets) = r.peers[0].next_stream().await;
    assert_eq!((packets, content), (5, data));
    let packets: Vec<_> = rec.take().into_iter().map(|p| p.packet).collect();
    assert_eq!(chunk_sizes(&packets), vec![3, 15_000, 15_000, 1_000]);
}

#[tokio::test]
async fn outgoing_v2_short_compressible_text_is_one_compressed_inline_packet() {
    let mut r = send_room(&[(2, true)], reference_compression()).await;
    let text = "hello hello hello hello hello hello";
    let sent = r.sender.send_text(text, text_opts(&["p0"])).await.unwrap();
    assert_eq!(
        (sent.packets, sent.inline, sent.compressed),
        (1, true, true)
    );
    let (h, content, _) = r.peers[0].next_stream().await;
    assert_eq!(h.compression, proto::COMPRESSION_DEFLATE_RAW);
    assert_eq!(h.total_length, Some(text.len() as u64));
    assert_eq!(inflate_raw(&content), text.as_bytes());
    r.peers[0].expect_no_packet(Duration::from_millis(30)).await;
}

/// By default compression is tried only from 1 KiB on, where it can pay; the floor and
/// the level are the sender's to choose, and the result is kept only when smaller.
#[tokio::test]
async fn outgoing_compression_floor_and_level() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let small = "hello ".repeat(170); // 1 020 bytes: under the floor
    let sent = r
        .sender
        .send_text(&small, text_opts(&["p0"]))
        .await
        .unwrap();
    assert_eq!((sent.inline, sent.compressed), (true, false));
    let (h, content, _) = r.peers[0].next_stream().await;
    assert_eq!(h.compression, proto::COMPRESSION_NONE);
    assert_eq!(content, small.as_bytes());

    let large = "hello ".repeat(171); // 1 026 bytes
    let sent = r
        .sender
        .send_text(&large, text_opts(&["p0"]))
        .await
        .unwrap();
    assert_eq!((sent.inline, sent.compressed), (true, true));
    let (h, content, _) = r.peers[0].next_stream().await;
    assert_eq!(h.compression, proto::COMPRESSION_DEFLATE_RAW);
    assert_eq!(inflate_raw(&content), large.as_bytes());
    let level_1 = content.len();

    // Level 0 stores: never smaller, so the payload goes raw.
    let r = send_room(
        &[(2, true)],
        JoinOptions {
            compression_level: 0,
            ..Default::default()
        },
    )
    .await;
    let sent = r
        .sender
        .send_text(&large, text_opts(&["p0"]))
        .await
        .unwrap();
    assert!(!sent.compressed);
    // Level 9 is at least as small as level 1.
    let mut r = send_room(
        &[(2, true)],
        JoinOptions {
            compression_level: 9,
            ..Default::default()
        },
    )
    .await;
    r.sender
        .send_text(&large, text_opts(&["p0"]))
        .await
        .unwrap();
    let (_, content, _) = r.peers[0].next_stream().await;
    assert!(content.len() <= level_1);
    assert_eq!(inflate_raw(&content), large.as_bytes());
}

#[tokio::test]
async fn outgoing_v2_incompressible_text_is_raw_inline() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let sent = r.sender.send_text("a1", text_opts(&["p0"])).await.unwrap();
    assert_eq!(
        (sent.packets, sent.inline, sent.compressed),
        (1, true, false)
    );
    let (h, content, _) = r.peers[0].next_stream().await;
    assert_eq!(h.compression, proto::COMPRESSION_NONE);
    assert_eq!(content, b"a1");
}

#[tokio::test]
async fn outgoing_v2_recipient_without_capability_gets_raw_inline() {
    let mut r = send_room(&[(2, false)], JoinOptions::default()).await;
    let text = "hello ".repeat(100);
    let sent = r.sender.send_text(&text, text_opts(&["p0"])).await.unwrap();
    assert_eq!((sent.inline, sent.compressed), (true, false));
    let (_, content, _) = r.peers[0].next_stream().await;
    assert_eq!(content, text.as_bytes());
}

#[tokio::test]
async fn outgoing_v2_long_highly_compressible_text_is_inline() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let text = "x".repeat(1_000_000);
    let sent = r.sender.send_text(&text, text_opts(&["p0"])).await.unwrap();
    assert_eq!(
        (sent.packets, sent.inline, sent.compressed),
        (1, true, true)
    );
    let (_, content, _) = r.peers[0].next_stream().await;
    assert_eq!(inflate_raw(&content), text.as_bytes());
}

#[tokio::test]
async fn outgoing_v2_somewhat_compressible_text_is_compressed_multi_packet() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let text = incompressible_text(200_000, 11);
    let rec = r.room.record_packets();
    let sent = r.sender.send_text(&text, text_opts(&["p0"])).await.unwrap();
    assert!(!sent.inline && sent.compressed);
    assert!(sent.wire_payload_bytes < 200_000);
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!(h.compression, proto::COMPRESSION_DEFLATE_RAW);
    assert_eq!(h.total_length, Some(200_000));
    assert_eq!(inflate_raw(&content), text.as_bytes());
    let sizes = chunk_sizes(&rec.take().into_iter().map(|p| p.packet).collect::<Vec<_>>());
    assert!(
        sizes[..sizes.len() - 1].iter().all(|s| *s == 15_000),
        "{sizes:?}"
    );
    // What the sender reports is what went out.
    assert_eq!((sent.packets, packets), (sizes.len() + 2, sizes.len() + 2));
    assert_eq!(
        sent.wire_payload_bytes as usize,
        sizes.iter().sum::<usize>()
    );
    assert_eq!(sent.wire_payload_bytes as usize, content.len());
}

#[tokio::test]
async fn outgoing_v2_incompressible_bytes_are_compressed_multi_packet() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let data = incompressible(50_000, 4);
    let sent = r
        .sender
        .send_bytes(&data, byte_opts(&["p0"]))
        .await
        .unwrap();
    // Eligible streams are compressed on the chunked path even when that does not help.
    assert!(!sent.inline && sent.compressed);
    let (h, content, _) = r.peers[0].next_stream().await;
    assert_eq!(h.compression, proto::COMPRESSION_DEFLATE_RAW);
    assert_eq!(inflate_raw(&content), data);
}

/// Large payloads are probed first: what saves less than 10 % in its first 64 KiB goes
/// uncompressed (no pass over megabytes for nothing); what compresses still does,
/// base64-like text included. Either way the receiver gets the same bytes.
#[tokio::test]
async fn outgoing_v2_large_payloads_compress_only_when_the_probe_pays() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let random = incompressible(300_000, 9);
    let base64_like: Vec<u8> = random
        .iter()
        .map(|b| {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(*b & 63) as usize]
        })
        .collect();
    let json = r#"{"joint":2,"angle":41.5,"ok":true},"#.repeat(10_000).into_bytes();
    for (name, data, compressed) in [
        ("random bytes", random, false),
        ("base64-like text", base64_like, true),
        ("JSON", json, true),
    ] {
        let sent = r
            .sender
            .send_bytes(&data, byte_opts(&["p0"]))
            .await
            .unwrap();
        assert_eq!(sent.compressed, compressed, "{name}");
        let (h, content, _) = r.peers[0].next_stream().await;
        if compressed {
            assert_eq!(h.compression, proto::COMPRESSION_DEFLATE_RAW, "{name}");
            assert!(content.len() < data.len() * 9 / 10, "{name}");
            assert_eq!(inflate_raw(&content), data, "{name}");
        } else {
            assert_eq!(h.compression, proto::COMPRESSION_NONE, "{name}");
            assert_eq!(content, data, "{name}");
        }
    }
}

#[tokio::test]
async fn outgoing_v2_compress_false_variants() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let mut opts = text_opts(&["p0"]);
    opts.compress = false;
    let sent = r
        .sender
        .send_text(&"y".repeat(1000), opts.clone())
        .await
        .unwrap();
    assert_eq!((sent.inline, sent.compressed), (true, false));
    let sent = r.sender.send_text(&"y".repeat(40_000), opts).await.unwrap();
    assert_eq!(
        (sent.inline, sent.compressed, sent.packets),
        (false, false, 5)
    );
    let mut bopts = byte_opts(&["p0"]);
    bopts.compress = false;
    let sent = r.sender.send_bytes(&[0; 100], bopts).await.unwrap();
    assert_eq!((sent.inline, sent.compressed), (true, false));
    let (h, _, _) = r.peers[0].next_stream().await;
    assert_eq!(h.compression, proto::COMPRESSION_NONE);
}

#[tokio::test]
async fn outgoing_stream_text_and_stream_bytes_never_compress_or_inline() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let mut w = r
        .sender
        .stream_text(StreamOptions {
            topic: TOPIC.into(),
            destination_identities: to(&["p0"]),
            ..Default::default()
        })
        .await
        .unwrap();
    w.write("aaaa").await.unwrap();
    w.write("bbbb").await.unwrap();
    w.close().await.unwrap();
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!(
        (h.inline_content, h.compression, h.total_length),
        (None, 0, None)
    );
    assert_eq!((content, packets), (b"aaaabbbb".to_vec(), 4));

    let mut w = r
        .sender
        .stream_bytes(StreamOptions {
            topic: TOPIC.into(),
            destination_identities: to(&["p0"]),
            total_length: Some(3),
            name: Some("f.bin".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    w.write(&[1, 2, 3]).await.unwrap();
    w.close().await.unwrap();
    let (h, content, _) = r.peers[0].next_stream().await;
    assert_eq!(
        (h.inline_content, h.compression, h.total_length),
        (None, 0, Some(3))
    );
    assert_eq!(content, vec![1, 2, 3]);
}

#[tokio::test]
async fn outgoing_mixed_room_broadcast_is_legacy() {
    let mut r = send_room(&[(2, true), (1, false)], JoinOptions::default()).await;
    let sent = r
        .sender
        .send_text(&"z".repeat(100), text_opts(&[]))
        .await
        .unwrap();
    assert_eq!(
        (sent.inline, sent.compressed, sent.packets),
        (false, false, 3)
    );
    for peer in &mut r.peers {
        let (_, content, _) = peer.next_stream().await;
        assert_eq!(content, "z".repeat(100).as_bytes());
    }
}

#[tokio::test]
async fn outgoing_mixed_room_subset_all_v2_is_inline_compressed() {
    let mut r = send_room(&[(2, true), (0, false), (2, true)], reference_compression()).await;
    let sent = r
        .sender
        .send_text(&"z".repeat(100), text_opts(&["p0", "p2"]))
        .await
        .unwrap();
    assert_eq!((sent.inline, sent.compressed), (true, true));
    r.peers[1].expect_no_packet(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn outgoing_mixed_room_subset_with_one_non_capable_is_inline_raw() {
    let r = send_room(&[(2, true), (2, false)], JoinOptions::default()).await;
    let sent = r
        .sender
        .send_text(&"z".repeat(100), text_opts(&["p0", "p1"]))
        .await
        .unwrap();
    assert_eq!((sent.inline, sent.compressed), (true, false));
}

#[tokio::test]
async fn outgoing_send_bytes_to_a_group() {
    let mut r = send_room(&[(2, true), (2, true), (2, true)], reference_compression()).await;
    let rec = r.room.record_packets();
    r.sender
        .send_bytes(&[5; 64], byte_opts(&["p0", "p1"]))
        .await
        .unwrap();
    let recorded = rec.take();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].to, to(&["p0", "p1"]));
    for peer in &mut r.peers[..2] {
        let (_, content, _) = peer.next_stream().await;
        assert_eq!(inflate_raw(&content), vec![5; 64]);
    }
    r.peers[2].expect_no_packet(Duration::from_millis(20)).await;
}

fn huge_attributes() -> HashMap<String, String> {
    HashMap::from([("big".to_string(), "v".repeat(16_000))])
}

#[tokio::test]
async fn outgoing_header_too_large_in_four_variants() {
    let r = send_room(&[(1, false), (2, true)], JoinOptions::default()).await;
    // send_text on the chunked (v1) path
    let mut o = text_opts(&["p0"]);
    o.attributes = huge_attributes();
    assert!(matches!(
        r.sender.send_text("x", o).await,
        Err(StreamError::HeaderTooLarge { .. })
    ));
    // send_bytes to a v2 peer: the inline attempt is too large, so is the chunked header
    let mut o = byte_opts(&["p1"]);
    o.attributes = huge_attributes();
    assert!(matches!(
        r.sender.send_bytes(b"x", o).await,
        Err(StreamError::HeaderTooLarge { .. })
    ));
    // the incremental writers
    let so = StreamOptions {
        topic: TOPIC.into(),
        attributes: huge_attributes(),
        ..Default::default()
    };
    assert!(matches!(
        r.sender.stream_text(so.clone()).await,
        Err(StreamError::HeaderTooLarge { .. })
    ));
    assert!(matches!(
        r.sender.stream_bytes(so).await,
        Err(StreamError::HeaderTooLarge { .. })
    ));
}

#[tokio::test]
async fn outgoing_eligibility_edge_cases() {
    // broadcast to an all-v2 room: inline
    let r = send_room(&[(2, true), (2, true)], JoinOptions::default()).await;
    assert!(
        r.sender
            .send_text("hi", text_opts(&[]))
            .await
            .unwrap()
            .inline
    );
    // empty room counts as eligible
    let r = send_room(&[], JoinOptions::default()).await;
    assert!(
        r.sender
            .send_text("hi", text_opts(&[]))
            .await
            .unwrap()
            .inline
    );
    // unknown identity counts as protocol 0
    let r = send_room(&[(2, true)], JoinOptions::default()).await;
    let sent = r
        .sender
        .send_text("hi", text_opts(&["p0", "ghost"]))
        .await
        .unwrap();
    assert_eq!((sent.inline, sent.packets), (false, 3));
}

#[tokio::test]
async fn outgoing_utf8_splitting_at_mtu() {
    let mut r = send_room(&[(1, false)], JoinOptions::default()).await;
    let text = format!("{}{}", "a".repeat(14_999), "€".repeat(10_000));
    let rec = r.room.record_packets();
    r.sender.send_text(&text, text_opts(&["p0"])).await.unwrap();
    for p in rec.take() {
        if let Some(data_packet::Value::StreamChunk(c)) = p.packet.value {
            assert!(c.content.len() <= 15_000);
            assert!(
                std::str::from_utf8(&c.content).is_ok(),
                "chunk split a character"
            );
        }
    }
    let (_, content, _) = r.peers[0].next_stream().await;
    assert_eq!(content, text.as_bytes());
}

#[tokio::test]
async fn outgoing_empty_payloads() {
    let mut r = send_room(&[(1, false), (2, true)], JoinOptions::default()).await;
    let sent = r.sender.send_text("", text_opts(&["p0"])).await.unwrap();
    assert_eq!((sent.packets, sent.inline), (2, false));
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!((packets, content.len()), (2, 0));
    assert_eq!(h.total_length, Some(0));
    let sent = r.sender.send_text("", text_opts(&["p1"])).await.unwrap();
    assert_eq!(
        (sent.packets, sent.inline, sent.compressed),
        (1, true, false)
    );
    let (h, _, _) = r.peers[1].next_stream().await;
    assert_eq!(h.inline_content, Some(vec![]));
}

#[tokio::test]
async fn outgoing_without_local_compression_support_sends_raw() {
    let r = send_room(
        &[(2, true)],
        JoinOptions {
            compression: false,
            ..Default::default()
        },
    )
    .await;
    let sent = r
        .sender
        .send_text(&"w".repeat(50_000), text_opts(&["p0"]))
        .await
        .unwrap();
    assert_eq!(
        (sent.inline, sent.compressed, sent.packets),
        (false, false, 6)
    );
}

#[tokio::test]
async fn outgoing_protocol_1_sender_never_inlines() {
    let r = send_room(
        &[(2, true)],
        JoinOptions {
            client_protocol: 1,
            ..Default::default()
        },
    )
    .await;
    let sent = r.sender.send_text("hi", text_opts(&["p0"])).await.unwrap();
    assert_eq!(
        (sent.inline, sent.compressed, sent.packets),
        (false, false, 3)
    );
}

#[tokio::test]
async fn ten_megabytes_between_participants_round_trip() {
    let room = MemoryRoom::new();
    let mut rx = Receiver::join(&room, "rx", JoinOptions::default()).await;
    let tx = room.join("tx").await.unwrap();
    let text = incompressible_text(10_000_000, 77);
    let sent = tx.send_text(&text, text_opts(&["rx"])).await.unwrap();
    assert!(sent.compressed);
    assert_eq!(read_text(rx.text().await).await.unwrap(), text);
}

#[tokio::test]
async fn stream_handlers_for_rpc_topics_are_taken() {
    let room = MemoryRoom::new();
    let p = room.join("p").await.unwrap();
    assert!(p
        .register_text_stream_handler(proto::RPC_REQUEST_TOPIC, |_| {})
        .is_err());
    assert!(p
        .register_text_stream_handler(proto::RPC_RESPONSE_TOPIC, |_| {})
        .is_err());
    assert!(p.register_text_stream_handler("mine", |_| {}).is_ok());
    assert!(p.register_text_stream_handler("mine", |_| {}).is_err());
    p.unregister_text_stream_handler("mine");
    assert!(p.register_text_stream_handler("mine", |_| {}).is_ok());
}

#[tokio::test]
async fn dropped_writer_ends_the_stream_abnormally() {
    let room = MemoryRoom::new();
    let mut rx = Receiver::join(&room, "rx", JoinOptions::default()).await;
    let tx = room.join("tx").await.unwrap();
    let mut w = tx
        .stream_text(StreamOptions {
            topic: TOPIC.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    w.write("part").await.unwrap();
    drop(w);
    assert!(matches!(
        read_text(rx.text().await).await,
        Err(StreamError::AbnormalEnd(_))
    ));
}

// ---------------------------------------------------------------- files and attachments

fn temp_file(name: &str, content: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lk-typed-rpc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn file_opts(dest: &[&str]) -> livekit_typed_rpc::streams::SendFileOptions {
    livekit_typed_rpc::streams::SendFileOptions {
        topic: TOPIC.into(),
        destination_identities: to(dest),
        ..Default::default()
    }
}

#[tokio::test]
async fn outgoing_send_file_is_never_inline_and_compressed_when_eligible() {
    let mut r = send_room(&[(2, true)], reference_compression()).await;
    let path = temp_file("tiny.txt", b"small enough to inline, but files never are");
    let sent = r.sender.send_file(&path, file_opts(&["p0"])).await.unwrap();
    assert!(!sent.inline && sent.compressed);
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!((packets, h.inline_content.is_none()), (3, true));
    assert_eq!(h.compression, proto::COMPRESSION_DEFLATE_RAW);
    assert!(
        matches!(&h.content_header, Some(proto::data_stream::header::ContentHeader::ByteHeader(b)) if b.name == "tiny.txt")
    );
    assert_eq!(
        inflate_raw(&content),
        b"small enough to inline, but files never are"
    );
}

#[tokio::test]
async fn outgoing_incompressible_file_is_compressed_multi_packet() {
    let mut r = send_room(&[(2, true)], JoinOptions::default()).await;
    let data = incompressible(200_000, 6);
    let path = temp_file("noise.bin", &data);
    let rec = r.room.record_packets();
    let sent = r.sender.send_file(&path, file_opts(&["p0"])).await.unwrap();
    assert!(sent.compressed && sent.packets > 3);
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!(h.total_length, Some(200_000));
    assert_eq!(inflate_raw(&content), data);
    let sizes = chunk_sizes(&rec.take().into_iter().map(|p| p.packet).collect::<Vec<_>>());
    assert!(
        sizes[..sizes.len() - 1].iter().all(|s| *s == 15_000),
        "{sizes:?}"
    );
    assert_eq!((sent.packets, packets), (sizes.len() + 2, sizes.len() + 2));
    assert_eq!(sent.wire_payload_bytes as usize, content.len());
}

/// A file that yields more bytes than its size said (here a /proc file, which reports
/// size 0) ends its stream with a trailer saying so, after every byte read was sent, and
/// the sender gets an error instead of a normal end.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn outgoing_file_that_changes_while_sent_ends_with_a_reason() {
    let r = send_room(&[(2, true)], JoinOptions::default()).await;
    let rec = r.room.record_packets();
    let path = std::path::Path::new("/proc/self/status");
    let err = r
        .sender
        .send_file(path, file_opts(&["p0"]))
        .await
        .unwrap_err();
    let StreamError::SendFailed(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.starts_with("file changed while sending: ") && message.ends_with(" of 0 bytes"),
        "{message}"
    );
    let packets: Vec<DataPacket> = rec.take().into_iter().map(|p| p.packet).collect();
    let read: usize = message["file changed while sending: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(read > 0);
    assert_eq!(chunk_sizes(&packets).iter().sum::<usize>(), read);
    let reasons: Vec<&str> = packets
        .iter()
        .filter_map(|p| match &p.value {
            Some(data_packet::Value::StreamTrailer(t)) => Some(t.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, vec![message.as_str()]);
}

#[tokio::test]
async fn outgoing_file_to_a_recipient_without_capability_is_uncompressed() {
    let mut r = send_room(&[(2, false)], JoinOptions::default()).await;
    let data = vec![3u8; 40_000];
    let path = temp_file("plain.bin", &data);
    let sent = r.sender.send_file(&path, file_opts(&["p0"])).await.unwrap();
    assert!(!sent.compressed && !sent.inline);
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!((h.compression, packets), (proto::COMPRESSION_NONE, 5));
    assert_eq!(content, data);
}

#[tokio::test]
async fn outgoing_empty_file_is_header_and_trailer() {
    let mut r = send_room(&[(1, false)], JoinOptions::default()).await;
    let path = temp_file("empty", b"");
    let sent = r.sender.send_file(&path, file_opts(&["p0"])).await.unwrap();
    assert_eq!(sent.packets, 2);
    let (h, content, packets) = r.peers[0].next_stream().await;
    assert_eq!((h.total_length, content.len(), packets), (Some(0), 0, 2));
}

#[tokio::test]
async fn outgoing_text_with_attachments_sends_files_first_and_never_inline() {
    let room = MemoryRoom::new();
    let mut rx = Receiver::join(&room, "rx", JoinOptions::default()).await;
    let tx = room.join("tx").await.unwrap();
    let a = temp_file("a.txt", b"first attachment");
    let b = temp_file("b.bin", &[1, 2, 3]);
    let mut opts = text_opts(&["rx"]);
    opts.attachments = vec![a, b];
    let sent = tx.send_text("see attached", opts).await.unwrap();
    assert!(!sent.inline);
    let first = rx.bytes().await;
    let second = rx.bytes().await;
    let ids = vec![first.info().id.clone(), second.info().id.clone()];
    assert_eq!(read_bytes(first).await.unwrap(), b"first attachment");
    assert_eq!(read_bytes(second).await.unwrap(), vec![1, 2, 3]);
    let text = rx.text().await;
    assert_eq!(text.info().attached_stream_ids, ids);
    assert_eq!(read_text(text).await.unwrap(), "see attached");
}

#[tokio::test]
async fn send_file_of_a_missing_path_says_which() {
    let r = send_room(&[(2, true)], JoinOptions::default()).await;
    let err = r
        .sender
        .send_file("/definitely/not/here.bin", file_opts(&["p0"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here.bin"));
}

/// The reference SDK tries to compress every eligible payload, however small; we skip
/// payloads under 1 KiB by default. The reference's cases run with that floor at 0.
fn reference_compression() -> JoinOptions {
    JoinOptions {
        compression_min_bytes: 0,
        ..Default::default()
    }
}
