use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc(namespace = "arm")]
trait Robot {
    async fn stop(&self);
    #[rpc(name = "arm.stop")]
    async fn halt(&self);
}

fn main() {}
