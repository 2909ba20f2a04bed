//! A typed service and its caller on a real LiveKit server, as two data-only Rust
//! participants: one serves the `Robot` trait, the other discovers it through its manifest
//! attribute and calls it.
//!
//! Start a server (`livekit-server --dev` gives key `devkey`, secret `secret`), then
//!
//! ```sh
//! LIVEKIT_URL=ws://127.0.0.1:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret \
//!     cargo run -p livekit-typed-rpc-sfu-tests --example sfu_room
//! ```

use std::time::{Duration, Instant};

use livekit_api::access_token::{AccessToken, VideoGrants};
use livekit_typed_rpc::{livekit_rpc, sfu, JoinOptions, RpcContext};

#[livekit_rpc(namespace = "robot")]
pub trait Robot {
    /// Moves one joint and says who asked.
    async fn move_arm(&self, ctx: RpcContext, joint: u8, angle: f32) -> String;
    /// A payload of `size` bytes, over RPC v2 data streams when large.
    async fn snapshot(&self, size: u32) -> Vec<u8>;
}

struct Arm;

impl Robot for Arm {
    async fn move_arm(&self, ctx: RpcContext, joint: u8, angle: f32) -> String {
        format!(
            "joint {joint} at {angle} degrees for {}",
            ctx.caller_identity
        )
    }

    async fn snapshot(&self, size: u32) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }
}

fn token(key: &str, secret: &str, room: &str, identity: &str) -> String {
    AccessToken::with_api_key(key, secret)
        .with_identity(identity)
        .with_grants(VideoGrants {
            room_join: true,
            room: room.into(),
            can_update_own_metadata: Some(true),
            ..Default::default()
        })
        .to_jwt()
        .expect("sign a token")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| {
        std::env::var(name)
            .map_err(|_| format!("set {name} (see the comment at the top of this example)"))
    };
    let (url, key, secret) = (
        var("LIVEKIT_URL")?,
        var("LIVEKIT_API_KEY")?,
        var("LIVEKIT_API_SECRET")?,
    );
    let room = "typed-rpc-example";

    let robot = sfu::connect(
        &url,
        &token(&key, &secret, room, "robot-1"),
        JoinOptions::default(),
    )
    .await?;
    let _serving = robot.serve(RobotServer::new(Arm))?;
    println!("robot-1 joined {room} on {url} and serves Robot");

    let operator = sfu::connect(
        &url,
        &token(&key, &secret, room, "operator"),
        JoinOptions::default(),
    )
    .await?;
    let client = RobotClient::discover(&operator, Duration::from_secs(10)).await?;
    println!("operator discovered Robot on {}", client.destination());

    println!("move_arm(2, 41.5) -> {}", client.move_arm(2, 41.5).await?);
    let started = Instant::now();
    let snapshot = client.snapshot(5_000_000).await?;
    println!(
        "snapshot(5000000) -> {} bytes in {:?} through the server",
        snapshot.len(),
        started.elapsed()
    );

    operator.leave().await;
    robot.leave().await;
    Ok(())
}
