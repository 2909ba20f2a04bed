use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    type Pose;
    async fn stop(&self);
}

fn main() {}
