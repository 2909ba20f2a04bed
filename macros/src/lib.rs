//! `#[livekit_rpc]`: turns a trait into a typed LiveKit RPC client and server.
//!
//! The macro is built as parse -> validated model -> render: `parse` reads the trait
//! and its attributes (one attribute parser, `attr`) into a `model::Service`, reporting
//! every problem as a spanned error at the user's code; `render` writes the trait, the
//! client and the server from that model. Generated code only names the runtime through
//! `::livekit_typed_rpc::__private`. See the `livekit-typed-rpc` crate for documentation.

use proc_macro::TokenStream;

mod attr;
mod model;
mod parse;
mod render;

/// Generates `<Trait>Client` and `<Trait>Server` for a trait of `async fn`s.
/// See the `livekit_typed_rpc` crate documentation.
#[proc_macro_attribute]
pub fn livekit_rpc(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(input as syn::ItemTrait);
    match parse::service(args.into(), item) {
        Ok(service) => render::service(&service).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
