use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn move_arm<T: serde::Serialize>(&self, joint: T) -> u8;
}

fn main() {}
