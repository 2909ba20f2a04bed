use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn greet(&self, name: &str) -> String;
}

fn main() {}
