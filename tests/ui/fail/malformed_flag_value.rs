use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    #[rpc(raw = "yes")]
    async fn echo(&self, text: String) -> String;
}

fn main() {}
