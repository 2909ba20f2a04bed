use livekit_typed_rpc::streaming::{CallStream, RpcStream};
use livekit_typed_rpc::{livekit_rpc, CallError, MemoryRoom, RpcContext};

#[livekit_rpc(namespace = "feed", contract)]
trait Feed {
    /// An open that cannot fail.
    async fn ticks(&self, every_ms: u32) -> RpcStream<u64, String>;
    /// An open that can.
    async fn lines(&self, ctx: RpcContext) -> Result<RpcStream<String, String>, u32>;
    /// Cancellable without a context: dropped when its caller gives up.
    #[rpc(cancellable)]
    async fn work(&self, ms: u64) -> u64;
}

#[allow(dead_code)]
async fn calls(room: MemoryRoom) {
    let caller = room.join("caller").await.unwrap();
    let feed = FeedClient::new(caller, "server");
    let _: Result<CallStream<u64, String>, CallError<std::convert::Infallible>> =
        feed.ticks(5).await;
    let _: Result<CallStream<String, String>, CallError<u32>> = feed.lines().await;
    let _: Result<u64, CallError<std::convert::Infallible>> = feed.work(10).await;
    let contract = FeedClient::contract();
    assert!(contract.methods[0].stream.is_some());
    assert!(contract.methods[2].cancellable);
}

fn main() {}
