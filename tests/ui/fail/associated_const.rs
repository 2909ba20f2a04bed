use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    const JOINTS: u8;
    async fn stop(&self);
}

fn main() {}
