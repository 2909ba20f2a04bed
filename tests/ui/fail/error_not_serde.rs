use livekit_typed_rpc::livekit_rpc;

pub struct VaultError;

#[livekit_rpc]
trait Vault {
    async fn load(&self) -> Result<u8, VaultError>;
}

fn main() {}
