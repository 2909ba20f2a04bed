use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {
    fn stop(&self);
    async fn start(&mut self);
    async fn greet(&self, name: &str) -> String;
}

fn main() {}
