//! The byte-stream echo the link benchmarks time (`shaped_link.rs`, and `real_server.rs`
//! in sfu-tests): random bytes are what the compression probe must leave alone, and a
//! byte stream is how they travel.

use livekit_typed_rpc::streams::SendBytesOptions;
use livekit_typed_rpc::Participant;
use tokio::sync::mpsc;

const TOPIC: &str = "bench.bytes";

/// Makes `echo` send whatever bytes arrive on the echo topic straight back to their
/// sender, and returns what `caller` gets back.
pub fn serve(echo: &Participant, caller: &Participant) -> mpsc::UnboundedReceiver<Vec<u8>> {
    let responder = echo.clone();
    echo.register_byte_stream_handler(TOPIC, move |reader| {
        let responder = responder.clone();
        tokio::spawn(async move {
            let sender = reader.sender_identity().to_owned();
            if let Ok(bytes) = reader.read_all().await {
                let _ = responder.send_bytes(&bytes, to(&sender)).await;
            }
        });
    })
    .expect("register the byte echo");
    let (back, bytes_back) = mpsc::unbounded_channel();
    caller
        .register_byte_stream_handler(TOPIC, move |reader| {
            let back = back.clone();
            tokio::spawn(async move {
                if let Ok(bytes) = reader.read_all().await {
                    let _ = back.send(bytes);
                }
            });
        })
        .expect("register the caller's byte handler");
    bytes_back
}

/// Options sending bytes to `destination` on the echo topic; compression allowed, so
/// whether it happens is the participant's (`JoinOptions`) and the probe's choice.
pub fn to(destination: &str) -> SendBytesOptions {
    SendBytesOptions {
        topic: TOPIC.into(),
        destination_identities: vec![destination.to_owned()],
        ..Default::default()
    }
}
