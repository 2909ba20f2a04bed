use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn name(&self) -> &str;
}

fn main() {}
