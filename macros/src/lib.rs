use proc_macro::TokenStream;
#[proc_macro_attribute]
pub fn livekit_rpc(_a: TokenStream, i: TokenStream) -> TokenStream {
    i
}
