use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn stop(&self) -> u8 {
        0
    }
}

fn main() {}
