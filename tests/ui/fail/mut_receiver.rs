use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn move_arm(&mut self, joint: u8) -> u8;
}

fn main() {}
