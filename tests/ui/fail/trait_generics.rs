use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
trait Store<T> {
    async fn get(&self, key: String) -> T;
}

fn main() {}
