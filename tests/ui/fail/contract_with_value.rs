use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc(contract = "yes")]
trait Geo {
    async fn ping(&self);
}

fn main() {}
