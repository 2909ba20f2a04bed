use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    #[rpc(name = "a", name = "b")]
    async fn stop(&self);
}

fn main() {}
