//! Arbitrary payloads as the arguments of typed methods, through the generated server.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use livekit_typed_rpc::{livekit_rpc, RpcInvocationData, Service};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Nested {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub tags: std::collections::HashMap<String, i64>,
}

/// Methods with many argument shapes.
#[livekit_rpc]
pub trait Shapes {
    /// Scalars and options.
    async fn scalars(&self, a: u8, b: i64, c: f32, d: Option<String>, e: bool) -> u32;
    /// Nested structures.
    async fn nested(&self, n: Nested, list: Vec<Nested>) -> usize;
    /// Renamed and defaulted.
    async fn renamed(&self, #[serde(rename = "X", default)] x: Vec<u16>) -> Result<u8, String>;
}

struct Impl;
impl Shapes for Impl {
    async fn scalars(&self, a: u8, _b: i64, _c: f32, d: Option<String>, e: bool) -> u32 {
        u32::from(a) + d.map_or(0, |s| s.len() as u32) + u32::from(e)
    }
    async fn nested(&self, n: Nested, list: Vec<Nested>) -> usize {
        n.values.len() + list.len()
    }
    async fn renamed(&self, x: Vec<u16>) -> Result<u8, String> {
        if x.is_empty() {
            Err("empty".into())
        } else {
            Ok(x.len() as u8)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    });
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    let payload = String::from_utf8_lossy(payload).into_owned();
    let server = ShapesServer::new(Impl);
    let method = <ShapesServer<Impl> as Service>::METHODS[which as usize % 3];
    let data = RpcInvocationData {
        request_id: "r".into(),
        caller_identity: "fuzz".into(),
        payload,
        response_timeout: Duration::from_secs(10),
        caller_kind: livekit_typed_rpc::ParticipantKind::Standard,
        caller_attributes: Default::default(),
    };
    let _ = rt.block_on(server.call(method, data));
});
