//! A trait with many method shapes compiles and works under `#![no_implicit_prelude]`.
#![no_implicit_prelude]

#[derive(::serde::Serialize, ::serde::Deserialize, ::std::fmt::Debug, ::std::cmp::PartialEq)]
pub struct Pose {
    pub joint: u8,
}

#[derive(::serde::Serialize, ::serde::Deserialize, ::std::fmt::Debug, ::std::cmp::PartialEq)]
pub enum ArmError {
    Busy,
}

#[::livekit_typed_rpc::livekit_rpc(namespace = "arm")]
pub trait Robot {
    async fn unit(&self);
    async fn value(&self, a: u8, b: ::std::string::String) -> ::std::vec::Vec<u8>;
    async fn fallible(&self, joint: u8) -> ::std::result::Result<Pose, ArmError>;
    async fn fallible_unit(&self) -> ::core::result::Result<(), ArmError>;
    async fn optional(&self, x: ::std::option::Option<u32>) -> ::std::option::Option<u32>;
    async fn context(&self, ctx: ::livekit_typed_rpc::RpcContext, n: u8) -> ::std::string::String;
    #[rpc(raw)]
    async fn raw(&self, text: ::std::string::String) -> ::std::string::String;
    #[rpc(raw, name = "raw-in")]
    async fn raw_in(&self, text: ::std::string::String);
    #[rpc(name = "renamed")]
    async fn r#type(&self, #[serde(rename = "Type")] r#type: u8) -> u8;
}

struct Arm;

impl Robot for Arm {
    async fn unit(&self) {}
    async fn value(&self, a: u8, b: ::std::string::String) -> ::std::vec::Vec<u8> {
        let mut v = ::std::borrow::ToOwned::to_owned(b.as_bytes());
        v.push(a);
        v
    }
    async fn fallible(&self, joint: u8) -> ::std::result::Result<Pose, ArmError> {
        if joint == 0 {
            ::std::result::Result::Err(ArmError::Busy)
        } else {
            ::std::result::Result::Ok(Pose { joint })
        }
    }
    async fn fallible_unit(&self) -> ::core::result::Result<(), ArmError> {
        ::std::result::Result::Ok(())
    }
    async fn optional(&self, x: ::std::option::Option<u32>) -> ::std::option::Option<u32> {
        x
    }
    async fn context(&self, ctx: ::livekit_typed_rpc::RpcContext, n: u8) -> ::std::string::String {
        ::std::format!("{}:{}", ctx.caller_identity, n)
    }
    async fn raw(&self, text: ::std::string::String) -> ::std::string::String {
        text
    }
    async fn raw_in(&self, _text: ::std::string::String) {}
    async fn r#type(&self, r#type: u8) -> u8 {
        r#type
    }
}

fn main() {
    let rt = ::tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let room = ::livekit_typed_rpc::MemoryRoom::new();
        let server = room.join("arm").await.unwrap();
        let _serving = server.serve(RobotServer::new(Arm)).unwrap();
        let client = RobotClient::new(room.join("op").await.unwrap(), "arm");
        client.unit().await.unwrap();
        ::std::assert_eq!(client.value(1, ::std::string::ToString::to_string("x")).await.unwrap(), ::std::vec![b'x', 1]);
        ::std::assert_eq!(client.fallible(2).await.unwrap(), Pose { joint: 2 });
        ::std::assert_eq!(
            client.fallible(0).await.unwrap_err(),
            ::livekit_typed_rpc::CallError::Application(ArmError::Busy)
        );
        client.fallible_unit().await.unwrap();
        ::std::assert_eq!(client.optional(::std::option::Option::None).await.unwrap(), ::std::option::Option::None);
        ::std::assert_eq!(client.context(7).await.unwrap(), "op:7");
        ::std::assert_eq!(client.raw(::std::string::ToString::to_string("t")).await.unwrap(), "t");
        client.raw_in(::std::string::ToString::to_string("t")).await.unwrap();
        ::std::assert_eq!(client.r#type(3).await.unwrap(), 3);
        ::std::assert_eq!(RobotClient::TYPE, "renamed");
    });
}
