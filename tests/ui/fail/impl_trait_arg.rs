use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn say(&self, text: impl Into<String>);
}

fn main() {}
