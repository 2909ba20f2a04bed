//! The README's main example: a typed robot service served by one participant of an
//! in-process LiveKit room and called by another.
//!
//! Run with `cargo run --example quickstart`.

use std::time::{Duration, Instant};

use livekit_typed_rpc::proto::data_packet;
use livekit_typed_rpc::streaming::RpcStream;
use livekit_typed_rpc::{livekit_rpc, CallError, ErrorCode, MemoryRoom, RpcContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a joint ended up.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Pose {
    pub joint: u8,
    pub angle: f32,
}

/// One reading of a joint, as `watch_joint` streams them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JointState {
    pub joint: u8,
    pub angle: f32,
    /// Readings sent before this one.
    pub seq: u32,
}

/// Why the arm did not move.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub enum ArmError {
    OutOfReach { joint: u8, max_angle: f32 },
    NoSuchJoint { joint: u8 },
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmError::OutOfReach { joint, max_angle } => {
                write!(f, "joint {joint} cannot go past {max_angle} degrees")
            }
            ArmError::NoSuchJoint { joint } => write!(f, "the arm has no joint {joint}"),
        }
    }
}

impl ErrorCode for ArmError {
    const CODES: &'static [u32] = &[4001, 4004];

    fn error_code(&self) -> u32 {
        match self {
            ArmError::OutOfReach { .. } => 4001,
            ArmError::NoSuchJoint { .. } => 4004,
        }
    }
}

/// A robot arm that other participants drive.
///
/// `contract` also describes it for other languages and LLM tools:
/// `cargo run --example export_contract -- <dir>` writes its JSON Schemas, a TypeScript
/// client and tool definitions.
#[livekit_rpc(namespace = "robot", contract)]
pub trait Robot {
    /// Moves one joint; fails with a typed error beyond 90 degrees.
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError>;
    /// A camera snapshot of `size` bytes: megabytes travel over RPC v2 data streams.
    async fn snapshot(&self, size: u32) -> Vec<u8>;
    /// Who is calling, from the invocation context.
    async fn whoami(&self, ctx: RpcContext) -> String;
    /// Takes as long as asked; stops when its caller gives up.
    #[rpc(cancellable)]
    async fn calibrate(&self, millis: u64);
    /// `count` readings of one joint, one every `every_ms`: a stream, which the caller
    /// can drop at any time. Refused for a joint the arm does not have.
    async fn watch_joint(
        &self,
        joint: u8,
        every_ms: u32,
        count: u32,
    ) -> Result<RpcStream<JointState, ArmError>, ArmError>;
}

pub struct Arm;

impl Robot for Arm {
    async fn move_arm(&self, joint: u8, angle: f32) -> Result<Pose, ArmError> {
        if angle > 90.0 {
            return Err(ArmError::OutOfReach {
                joint,
                max_angle: 90.0,
            });
        }
        Ok(Pose { joint, angle })
    }

    async fn snapshot(&self, size: u32) -> Vec<u8> {
        (0..size).map(|i| (i * 7 % 251) as u8).collect()
    }

    async fn whoami(&self, ctx: RpcContext) -> String {
        format!(
            "you are {:?}, and you wait up to {} ms for me",
            ctx.caller_identity,
            ctx.response_timeout.as_millis()
        )
    }

    async fn calibrate(&self, millis: u64) {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }

    async fn watch_joint(
        &self,
        joint: u8,
        every_ms: u32,
        count: u32,
    ) -> Result<RpcStream<JointState, ArmError>, ArmError> {
        if joint > 5 {
            return Err(ArmError::NoSuchJoint { joint });
        }
        Ok(RpcStream::spawn(move |sink| async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every_ms.into()));
            for seq in 0..count {
                tick.tick().await;
                let angle = 40.0 + (seq % 10) as f32 * 0.5;
                if sink.send(JointState { joint, angle, seq }).await.is_err() {
                    break; // the caller dropped the stream or left
                }
            }
            Ok(())
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let room = MemoryRoom::new();
    let recorder = room.record_packets();

    // One participant serves the robot; dropping `serving` would unregister it.
    let robot_side = room.join("robot").await?;
    let serving = robot_side.serve(RobotServer::new(Arm))?;
    println!("robot serves {:?}", serving.methods());

    // Another participant calls it with typed arguments and results.
    let operator = room.join("operator").await?;
    let robot = RobotClient::new(operator.clone(), "robot");

    let pose = robot.move_arm(2, 41.5).await?;
    println!(
        "move_arm(2, 41.5) -> joint {} now at {} degrees",
        pose.joint, pose.angle
    );

    match robot.move_arm(3, 120.0).await {
        Err(CallError::Application(e)) => {
            println!("move_arm(3, 120.0) -> the robot refused with a typed error: {e}")
        }
        other => println!("unexpected: {other:?}"),
    }

    println!("whoami() -> {}", robot.whoami().await?);

    // A per-call timeout: the handler takes 2 s, we wait 300 ms.
    let started = Instant::now();
    match robot
        .with_timeout(Duration::from_millis(300))
        .calibrate(2_000)
        .await
    {
        Err(CallError::Rpc(e)) => println!(
            "calibrate(2000) with a 300 ms timeout -> {} (code {}) after {:?}\n  why: {}",
            e.message,
            e.code,
            started.elapsed(),
            livekit_typed_rpc::CallDiagnosis::from_error(&e)
                .map(|d| d.hint)
                .unwrap_or_default()
        ),
        other => println!("unexpected: {other:?}"),
    }

    // A stream: readings arrive as the robot sends them, under the caller's flow control.
    let mut readings = robot.watch_joint(2, 10, 1_000).await?;
    while let Some(reading) = readings.next().await {
        let reading = reading?;
        if reading.seq == 4 {
            println!(
                "watch_joint(2) -> 5 readings, the last at {} degrees; dropping the stream stops the robot's producer",
                reading.angle
            );
            break;
        }
    }
    drop(readings);

    // Megabytes: far beyond RPC v1's 15 KiB, carried by a compressed data stream.
    recorder.take();
    let started = Instant::now();
    let image = robot.snapshot(4_000_000).await?;
    let packets = recorder.take();
    let response_chunks = packets
        .iter()
        .filter(|p| p.from == "robot")
        .filter(|p| matches!(p.packet.value, Some(data_packet::Value::StreamChunk(_))))
        .count();
    let compressed = packets.iter().any(|p| {
        matches!(&p.packet.value, Some(data_packet::Value::StreamHeader(h))
            if h.topic == "lk.rpc_response" && h.compression == 1)
    });
    println!(
        "snapshot(4000000) -> {} bytes in {:?} ({} build); the response crossed the room as an RPC v2 stream of {} chunks (compressed: {})",
        image.len(),
        started.elapsed(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        response_chunks,
        compressed
    );

    operator.leave().await;
    println!(
        "operator left; the robot now sees {:?}",
        robot_side.remote_participants().len()
    );
    Ok(())
}
