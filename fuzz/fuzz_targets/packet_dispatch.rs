//! Arbitrary bytes as a sequence of length-prefixed DataPackets, decoded and dispatched
//! into a participant, as if a peer sent them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livekit_typed_rpc::proto::{DataPacket, Message};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let w = common::world();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = (len as usize).min(tail.len());
        let (body, tail) = tail.split_at(len);
        rest = tail;
        let Ok(mut packet) = DataPacket::decode(body) else {
            continue;
        };
        packet.destination_identities = vec!["target".into()];
        let _ = w.rt.block_on(w.evil.transport.publish(packet));
    }
    common::settle(w);
});
