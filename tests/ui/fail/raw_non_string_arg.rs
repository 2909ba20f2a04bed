use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    #[rpc(raw)]
    async fn echo(&self, text: Vec<u8>) -> String;
}

fn main() {}
