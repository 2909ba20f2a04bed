#![deny(deprecated)]
use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
pub trait Robot {
    #[deprecated(note = "use stop_all")]
    async fn stop(&self);
}

async fn call(client: RobotClient) {
    let _ = client.stop().await;
}

fn main() {
    drop(call);
}
