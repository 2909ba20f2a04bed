//! Two services in one module, with the same method names, do not collide.
use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc(namespace = "a")]
trait Alpha {
    async fn get(&self, key: String) -> u8;
}

#[livekit_rpc(namespace = "b")]
trait Beta {
    async fn get(&self, key: String) -> u8;
}

struct Both;

impl Alpha for Both {
    async fn get(&self, _key: String) -> u8 {
        1
    }
}

impl Beta for Both {
    async fn get(&self, _key: String) -> u8 {
        2
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let room = livekit_typed_rpc::MemoryRoom::new();
    let server = room.join("s").await.unwrap();
    let _a = server.serve(AlphaServer::new(Both)).unwrap();
    let _b = server.serve(BetaServer::new(Both)).unwrap();
    let p = room.join("c").await.unwrap();
    assert_eq!(AlphaClient::new(p.clone(), "s").get("k".into()).await.unwrap(), 1);
    assert_eq!(BetaClient::new(p, "s").get("k".into()).await.unwrap(), 2);
}
