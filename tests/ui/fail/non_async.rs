use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    fn move_arm(&self, joint: u8) -> u8;
}

fn main() {}
