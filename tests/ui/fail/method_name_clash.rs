use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn new(&self) -> u8;
    async fn with_timeout(&self, ms: u64);
}

fn main() {}
