use livekit_typed_rpc::livekit_rpc;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct NotFound;

#[livekit_rpc(contract)]
trait Geo {
    async fn locate(&self, city: String) -> Result<String, NotFound>;
}

fn main() {}
