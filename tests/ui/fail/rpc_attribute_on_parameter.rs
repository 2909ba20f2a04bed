use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn echo(&self, #[rpc(raw)] text: String) -> String;
}

fn main() {}
