//! A user `Result` alias (and `Option`, `String`, `Box` look-alikes) in scope does not
//! confuse the generated code.
#![allow(dead_code)]

use livekit_typed_rpc::livekit_rpc;

type Result<T> = std::result::Result<T, String>;
struct Option;
struct Box;
struct Arc;
struct Send;

#[livekit_rpc]
pub trait Robot {
    async fn plain(&self, x: u8) -> u8;
    async fn fallible(&self) -> std::result::Result<u8, String>;
}

struct Arm;

impl Robot for Arm {
    async fn plain(&self, x: u8) -> u8 {
        x
    }
    async fn fallible(&self) -> std::result::Result<u8, String> {
        Err("no".into())
    }
}

fn helper() -> Result<u8> {
    Ok(1)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let room = livekit_typed_rpc::MemoryRoom::new();
    let server = room.join("arm").await.unwrap();
    let _serving = server.serve(RobotServer::new(Arm)).unwrap();
    let client = RobotClient::new(room.join("op").await.unwrap(), "arm");
    assert_eq!(client.plain(4).await.unwrap(), 4);
    assert_eq!(
        client.fallible().await.unwrap_err(),
        livekit_typed_rpc::CallError::Application("no".to_string())
    );
    assert_eq!(helper().unwrap(), 1);
}
