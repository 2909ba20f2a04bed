use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    #[rpc]
    async fn stop(&self);
}

fn main() {}
