//! `#[cfg]` removes a method everywhere; `#[deprecated]` methods can still be implemented
//! and served without warnings from generated code.
#![deny(warnings)]

use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
pub trait Robot {
    async fn start(&self) -> u8;
    #[cfg(any())]
    async fn gone(&self, x: NotEvenAType) -> u8;
    #[deprecated(note = "use start")]
    async fn old_start(&self) -> u8;
}

struct Arm;

impl Robot for Arm {
    async fn start(&self) -> u8 {
        1
    }
    async fn old_start(&self) -> u8 {
        2
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    use livekit_typed_rpc::Service;
    assert_eq!(<RobotServer<Arm> as Service>::METHODS, &["start", "old_start"]);
    let room = livekit_typed_rpc::MemoryRoom::new();
    let server = room.join("arm").await.unwrap();
    let _serving = server.serve(RobotServer::new(Arm)).unwrap();
    let client = RobotClient::new(room.join("op").await.unwrap(), "arm");
    assert_eq!(client.start().await.unwrap(), 1);
    #[allow(deprecated)]
    let old = client.old_start().await.unwrap();
    assert_eq!(old, 2);
}
