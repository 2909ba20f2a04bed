//! Parameters named like the generated code's locals and fields still work.
use livekit_typed_rpc::livekit_rpc;

#[livekit_rpc]
pub trait Tricky {
    #[allow(clippy::too_many_arguments)]
    async fn all(
        &self,
        __lk_args: u8,
        __lk_data: u8,
        __lk_this: u8,
        __lk_out: u8,
        __lk_context: u8,
        __lk: u8,
        payload: u8,
        method: u8,
    ) -> u32;
}

struct T;

impl Tricky for T {
    async fn all(
        &self,
        __lk_args: u8,
        __lk_data: u8,
        __lk_this: u8,
        __lk_out: u8,
        __lk_context: u8,
        __lk: u8,
        payload: u8,
        method: u8,
    ) -> u32 {
        [__lk_args, __lk_data, __lk_this, __lk_out, __lk_context, __lk, payload, method]
            .iter()
            .map(|x| *x as u32)
            .sum()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let room = livekit_typed_rpc::MemoryRoom::new();
    let server = room.join("s").await.unwrap();
    let _serving = server.serve(TrickyServer::new(T)).unwrap();
    let client = TrickyClient::new(room.join("c").await.unwrap(), "s");
    assert_eq!(client.all(1, 2, 3, 4, 5, 6, 7, 8).await.unwrap(), 36);
}
