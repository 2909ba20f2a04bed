//! A typed service on a real LiveKit room: one connection serves it, a second one finds it
//! by discovery (the service's manifest attribute) and calls it.
//!
//! Against a local dev server (`livekit-server --dev` uses the key `devkey` and the secret
//! `secret`):
//!
//! ```text
//! LIVEKIT_URL=ws://localhost:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret \
//!     cargo run -p livekit-typed-rpc --features livekit --example livekit_room
//! ```
//!
//! Tokens are minted with LiveKit's own `livekit-api` crate (its `access-token` feature).

use std::time::Duration;

use livekit::prelude::{Room, RoomOptions};
use livekit_token::{AccessToken, VideoGrants};
use livekit_typed_rpc::livekit_endpoint::LiveKitRoom;
use livekit_typed_rpc::livekit_rpc;

/// Greets whoever asks.
#[livekit_rpc(namespace = "greeter")]
pub trait Greeter {
    /// A greeting for `name`, saying who answered.
    async fn greet(&self, name: String) -> String;
}

struct Host(String);

impl Greeter for Host {
    async fn greet(&self, name: String) -> String {
        format!("hello {name}, from {}", self.0)
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("set {name} (see the comment at the top of examples/livekit_room.rs)");
        std::process::exit(2)
    })
}

fn token(identity: &str, room: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(
        AccessToken::with_api_key(&env("LIVEKIT_API_KEY"), &env("LIVEKIT_API_SECRET"))
            .with_identity(identity)
            .with_grants(VideoGrants {
                room_join: true,
                room: room.to_owned(),
                ..Default::default()
            })
            .to_jwt()?,
    )
}

async fn connect(identity: &str) -> Result<LiveKitRoom, Box<dyn std::error::Error>> {
    let url = env("LIVEKIT_URL");
    let (room, _events) = Room::connect(
        &url,
        &token(identity, "typed-rpc-demo")?,
        RoomOptions::default(),
    )
    .await?;
    Ok(LiveKitRoom::new(room))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = connect("greeter-host").await?;
    let _serving =
        livekit_typed_rpc::serve(&server, GreeterServer::new(Host("greeter-host".into())))?;

    let caller = connect("visitor").await?;
    let greeter = GreeterClient::discover(&caller, Duration::from_secs(15)).await?;
    println!("discovered the greeter on {:?}", greeter.destination());
    println!("{}", greeter.greet("visitor".into()).await?);
    Ok(())
}
