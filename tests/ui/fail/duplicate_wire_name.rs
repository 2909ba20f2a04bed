use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn stop(&self);
    #[rpc(name = "stop")]
    async fn halt(&self);
}

fn main() {}
