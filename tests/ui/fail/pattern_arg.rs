use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn move_arm(&self, (joint, angle): (u8, f32)) -> u8;
}

fn main() {}
