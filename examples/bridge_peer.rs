//! One side of a two-process RPC exchange over the room wire bridge.
//!
//! `cargo run --example bridge_peer -- host` hosts an in-process room, serves it over TCP,
//! joins it as "host" and prints `LISTENING <addr>`; `cargo run --example bridge_peer --
//! guest <addr>` joins that room from another process as "guest". Each serves `Greeter`
//! and calls the other's, then both leave.

use std::time::Duration;

use livekit_typed_rpc::{
    bridge, livekit_rpc, CallError, JoinOptions, MemoryRoom, Participant, RpcContext,
};

/// Greets whoever calls.
#[livekit_rpc(namespace = "greeter")]
pub trait Greeter {
    /// Returns a greeting naming the caller and this process.
    async fn greet(&self, ctx: RpcContext, from: String) -> String;
}

struct Process {
    name: &'static str,
    called: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Greeter for Process {
    async fn greet(&self, ctx: RpcContext, from: String) -> String {
        let _ = self.called.send(ctx.caller_identity.clone());
        format!(
            "hello {from}, this is {} (pid {})",
            self.name,
            std::process::id()
        )
    }
}

/// Calls the peer, retrying while it has not registered its handler yet (the peer can be
/// visible in the room a moment before it serves).
async fn call_peer(
    me: &Participant,
    peer: &str,
) -> Result<String, CallError<std::convert::Infallible>> {
    let client = GreeterClient::new(me.clone(), peer);
    for _ in 0..50 {
        match client.greet(me.identity().to_owned()).await {
            Err(CallError::Rpc(e)) if e.code == 1400 => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => return other,
        }
    }
    client.greet(me.identity().to_owned()).await
}

async fn exchange(
    me: Participant,
    peer: &str,
    name: &'static str,
) -> Result<(), Box<dyn std::error::Error>> {
    let (called, mut was_called) = tokio::sync::mpsc::unbounded_channel();
    let _serving = me.serve(GreeterServer::new(Process { name, called }))?;
    me.wait_for_participant(peer, Duration::from_secs(30))
        .await
        .ok_or("peer never joined")?;
    let reply = call_peer(&me, peer).await?;
    println!("{name} got: {reply}");
    let caller = tokio::time::timeout(Duration::from_secs(30), was_called.recv())
        .await?
        .ok_or("never called")?;
    println!("{name} was called by {caller}");
    // Stay until the peer is done with us too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    me.leave().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("host") => {
            let room = MemoryRoom::new();
            let server = bridge::serve(room.clone(), "127.0.0.1:0").await?;
            let me = room.join("host").await?;
            println!("LISTENING {}", server.local_addr());
            exchange(me, "guest", "host").await
        }
        Some("guest") => {
            let addr = args
                .get(2)
                .ok_or("usage: bridge_peer guest <addr>")?
                .parse()?;
            let me = bridge::connect(addr, "guest", JoinOptions::default()).await?;
            exchange(me, "host", "guest").await
        }
        _ => Err("usage: bridge_peer host | bridge_peer guest <addr>".into()),
    }
}
