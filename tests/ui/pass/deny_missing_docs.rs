//! Docs carry over: a documented trait passes `#![deny(missing_docs)]`, with the
//! generated client and server documented too.
#![deny(missing_docs)]

/// Public API of this test crate.
pub mod api {
    use livekit_typed_rpc::livekit_rpc;

    /// A robot arm.
    #[livekit_rpc(namespace = "arm")]
    pub trait Robot {
        /// Stops everything.
        async fn stop(&self);
        /// Moves a joint.
        async fn move_arm(&self, joint: u8, angle: f32) -> Result<u8, String>;
    }
}

fn main() {
    let _ = api::RobotClient::STOP;
}
