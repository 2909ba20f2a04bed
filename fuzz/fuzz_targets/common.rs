// Shared by the fuzz targets: one runtime and one room whose "target" participant serves
// an echo method and reads every text and byte stream on topic "t".

use std::sync::OnceLock;
use std::time::Duration;

use livekit_typed_rpc::room::Connection;
use livekit_typed_rpc::streams::StreamLimits;
use livekit_typed_rpc::{JoinOptions, MemoryRoom, Participant, RpcInvocationData};

pub struct World {
    pub rt: tokio::runtime::Runtime,
    /// Kept alive: dropping it would make it leave the room.
    pub _target: Participant,
    pub evil: Connection,
}

pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (target, evil) = rt.block_on(async {
            let room = MemoryRoom::new();
            let options = JoinOptions {
                stream_limits: StreamLimits {
                    max_stream_bytes: 4 << 20,
                    max_open_streams_per_sender: 64,
                    ..Default::default()
                },
                ..Default::default()
            };
            let target = room.join_with("target", options).await.unwrap();
            target
                .register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) })
                .unwrap();
            for topic in ["t", "x"] {
                target
                    .register_text_stream_handler(topic, |r| {
                        tokio::spawn(async move {
                            let _ =
                                tokio::time::timeout(Duration::from_millis(50), r.read_all()).await;
                        });
                    })
                    .unwrap();
                target
                    .register_byte_stream_handler(topic, |r| {
                        tokio::spawn(async move {
                            let _ =
                                tokio::time::timeout(Duration::from_millis(50), r.read_all()).await;
                        });
                    })
                    .unwrap();
            }
            let evil = room.connect("evil", JoinOptions::default()).unwrap();
            (target, evil)
        });
        World {
            rt,
            _target: target,
            evil,
        }
    })
}

/// Lets the target's dispatcher and handlers run for a moment.
pub fn settle(w: &World) {
    w.rt.block_on(async {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    });
}
