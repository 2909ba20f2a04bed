//! `<Trait>FanOut`: the client's methods, called on every participant serving the service
//! at once, one typed result per server.

use proc_macro2::TokenStream;
use quote::quote;

use super::call::{finish, params, payload, result_types};
use super::{fan_out_ident, krate};
use crate::model::{Method, Service};

pub fn render(service: &Service) -> TokenStream {
    let krate = krate();
    let Service {
        vis,
        ident,
        client,
        cfgs,
        ..
    } = service;
    let fan_out = fan_out_ident(service);
    let doc = format!(
        "Calls [`{ident}`]'s methods on every participant serving it, in parallel. Made by \
         [`{client}::fan_out`]; each call returns a map from server identity to that \
         server's result, so a slow, failing or departing server costs only its own entry \
         (bounded by the response timeout). The servers are looked up at each call, from \
         their manifest attributes."
    );
    // A stream has one consumer; fanning one out would need a merge policy nobody asked
    // for, so streaming methods are called on one server, through the client.
    let methods = service
        .methods
        .iter()
        .filter(|m| m.stream.is_none())
        .map(|m| method(service, m));
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #fan_out<P = #krate::Participant> {
            __lk: #krate::__private::FanOutCore<P>,
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl<P: #krate::RpcEndpoint> #fan_out<P> {
            #[doc(hidden)]
            pub fn from_core(core: #krate::__private::FanOutCore<P>) -> Self {
                Self { __lk: core }
            }

            /// A copy whose calls wait `timeout` for each server's response (default 15 s).
            pub fn with_timeout(&self, timeout: ::core::time::Duration) -> Self {
                Self { __lk: self.__lk.with_timeout(timeout) }
            }

            /// The identities a call would go to now, sorted.
            pub fn servers(&self) -> ::std::vec::Vec<::std::string::String> {
                self.__lk.servers()
            }

            /// What calls go through.
            pub fn endpoint(&self) -> &P {
                self.__lk.endpoint()
            }

            #(#methods)*
        }
    }
}

fn method(service: &Service, m: &Method) -> TokenStream {
    let krate = krate();
    let Method {
        ident,
        wire_name,
        carried,
        ..
    } = m;
    let args = params(m);
    let (ok, err) = result_types(m);
    let payload = payload(service, m);
    let finish = finish(m, quote!(__lk_reply));
    quote! {
        #(#carried)*
        pub async fn #ident(&self, #(#args),*)
            -> ::std::collections::BTreeMap<
                ::std::string::String,
                ::core::result::Result<#ok, #krate::CallError<#err>>,
            >
        {
            let __lk_payload = #payload;
            #krate::__private::collect_fan_out(
                self.__lk.call_all(#wire_name, __lk_payload).await,
                |__lk_reply| #finish,
            )
        }
    }
}
