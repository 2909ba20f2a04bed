use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
pub trait Robot {
    async fn start(&self);
    #[cfg(any())]
    async fn stop(&self);
}

async fn call(client: RobotClient) {
    let _ = client.stop().await;
}

fn main() {
    drop(call);
}
