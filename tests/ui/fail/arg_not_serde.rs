use livekit_typed_rpc::livekit_rpc;

pub struct Secret;

#[livekit_rpc]
trait Vault {
    async fn store(&self, secret: Secret) -> bool;
}

fn main() {}
