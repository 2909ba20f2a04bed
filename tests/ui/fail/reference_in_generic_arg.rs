use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn greet(&self, name: Option<&str>) -> String;
}

fn main() {}
