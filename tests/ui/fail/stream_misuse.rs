use livekit_typed_rpc::livekit_rpc;
use livekit_typed_rpc::streaming::RpcStream;

#[livekit_rpc]
trait Feed {
    // A stream's items are JSON records: it cannot be raw.
    #[rpc(raw)]
    async fn raw_ticks(&self) -> RpcStream<String, String>;
    // Dropping the stream already cancels it.
    #[rpc(cancellable)]
    async fn ticks(&self) -> Result<RpcStream<u32, String>, String>;
    // `$` keys belong to the typed_rpc envelope.
    async fn renamed(&self, #[serde(rename = "$typed_rpc")] id: String);
}

fn main() {}
