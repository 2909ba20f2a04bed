//! Arbitrary bytes read as stream operations (headers, chunks, trailers with small ids,
//! indices, optional inline and compressed content), fed to a participant's stream layer.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use livekit_typed_rpc::proto::{self, data_packet, data_stream};

#[path = "common.rs"]
mod common;

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, tail) = data.split_at(n);
    *data = tail;
    head
}

fuzz_target!(|input: &[u8]| {
    let w = common::world();
    let mut data = input;
    while data.len() >= 3 {
        let op = take(&mut data, 3);
        let (kind, id, arg) = (op[0] % 4, format!("s{}", op[1] % 4), op[2]);
        let len = (arg as usize) * 4;
        let value = match kind {
            0 | 1 => {
                let text = arg & 1 == 0;
                let content_header = if text {
                    data_stream::header::ContentHeader::TextHeader(Default::default())
                } else {
                    data_stream::header::ContentHeader::ByteHeader(Default::default())
                };
                let mut h = data_stream::Header {
                    stream_id: id,
                    topic: if arg & 8 == 0 { "t".into() } else { "x".into() },
                    total_length: (arg & 2 == 0).then_some(len as u64),
                    compression: i32::from(arg & 4 != 0) * proto::COMPRESSION_DEFLATE_RAW,
                    content_header: Some(content_header),
                    attributes: HashMap::from([("k".to_string(), "v".to_string())]),
                    ..Default::default()
                };
                if kind == 1 {
                    h.inline_content = Some(take(&mut data, len).to_vec());
                }
                data_packet::Value::StreamHeader(h)
            }
            2 => data_packet::Value::StreamChunk(data_stream::Chunk {
                stream_id: id,
                chunk_index: u64::from(arg % 8),
                content: take(&mut data, len).to_vec(),
                ..Default::default()
            }),
            _ => data_packet::Value::StreamTrailer(data_stream::Trailer {
                stream_id: id,
                reason: if arg % 5 == 0 {
                    "stop".into()
                } else {
                    String::new()
                },
                attributes: HashMap::new(),
            }),
        };
        let packet = proto::reliable_packet(vec!["target".into()], value);
        let _ = w.rt.block_on(w.evil.transport.publish(packet));
    }
    common::settle(w);
});
