use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    async fn move_arm<'a>(&self, name: std::borrow::Cow<'a, str>) -> u8;
}

fn main() {}
