//! Arbitrary bytes as a bridge byte stream: frames read one after another, bodies decoded
//! as the bridge decodes them.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use livekit_typed_rpc::bridge::{read_frame, FRAME_DATA, FRAME_JOIN, FRAME_PARTICIPANT};
use livekit_typed_rpc::proto::{DataPacket, Message, ParticipantInfo};

fuzz_target!(|data: &[u8]| {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    });
    rt.block_on(async {
        let mut reader = data;
        while let Ok((kind, body)) = read_frame(&mut reader).await {
            match kind {
                FRAME_JOIN | FRAME_PARTICIPANT => {
                    let _ = ParticipantInfo::decode(body.as_slice());
                }
                FRAME_DATA => {
                    let _ = DataPacket::decode(body.as_slice());
                }
                _ => break,
            }
        }
    });
});
