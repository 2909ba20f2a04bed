use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Robot {}

fn main() {}
