use livekit_typed_rpc::livekit_rpc;
use serde::{Deserialize, Serialize};

// Crosses the wire, but a contract cannot describe it without `JsonSchema`.
#[derive(Serialize, Deserialize)]
pub struct Coordinates {
    pub lat: f64,
}

#[livekit_rpc(contract)]
trait Geo {
    async fn near(&self, at: Coordinates) -> bool;
}

fn main() {}
