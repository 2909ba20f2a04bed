use livekit_typed_rpc::livekit_rpc;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Place {
    pub name: String,
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotFound;

#[livekit_rpc(contract)]
trait Geo {
    async fn locate(&self, city: String) -> Result<Place, NotFound>;
}

fn main() {}
