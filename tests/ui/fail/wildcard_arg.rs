use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn move_arm(&self, _: u8) -> u8;
}

fn main() {}
