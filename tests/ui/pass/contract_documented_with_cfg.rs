//! `contract` under `deny(missing_docs, warnings)`, with a `cfg`-removed method (absent from
//! the contract too) and doc comments on parameters.
#![deny(missing_docs, warnings)]

use livekit_typed_rpc::livekit_rpc;

/// A documented service.
#[livekit_rpc(namespace = "docs", contract)]
pub trait Documented {
    /// Adds.
    async fn add(
        &self,
        /// The first term.
        a: i64,
        /// The second term.
        b: i64,
    ) -> i64;
    #[cfg(any())]
    async fn gone(&self, x: NotEvenAType) -> u8;
}

fn main() {
    let contract = DocumentedServer::contract();
    assert_eq!(contract.methods.len(), 1);
    assert_eq!(contract.methods[0].params[1].docs, "The second term.");
    assert_eq!(contract, DocumentedClient::contract());
}
