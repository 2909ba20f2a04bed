use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    #[rpc(name = "a")]
    #[rpc(raw)]
    async fn stop(&self, why: String);
}

fn main() {}
