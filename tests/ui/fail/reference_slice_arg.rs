use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn upload(&self, data: &[u8]) -> u32;
}

fn main() {}
