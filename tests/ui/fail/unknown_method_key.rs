use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    #[rpc(nme = "halt")]
    async fn stop(&self);
}

fn main() {}
