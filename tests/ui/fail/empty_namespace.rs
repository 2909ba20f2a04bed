use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc(namespace = "")]
trait Robot {
    async fn stop(&self);
}

fn main() {}
