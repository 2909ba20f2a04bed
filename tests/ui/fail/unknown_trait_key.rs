use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc(namspace = "arm")]
trait Robot {
    async fn stop(&self);
}

fn main() {}
