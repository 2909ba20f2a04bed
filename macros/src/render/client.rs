//! The typed client: one `async fn` per method returning `Result<T, CallError<E>>`.

use proc_macro2::TokenStream;
use quote::quote;

use super::call::{finish, params, payload, result_types};
use super::krate;
use crate::model::{Method, Service, StreamTypes};

pub fn render(service: &Service) -> TokenStream {
    let krate = krate();
    let Service {
        vis,
        ident,
        client,
        cfgs,
        ..
    } = service;
    let doc = format!(
        "Typed client for [`{ident}`]: calls its methods on another participant over LiveKit RPC.\n\n\
         Create it with [`{client}::new`]`(participant, \"destination-identity\")`; every call \
         returns `Result<T, CallError<E>>`."
    );
    let methods = service.methods.iter().map(|m| method(service, m));
    let consts = super::wire_name_consts(service);
    let wires = service.methods.iter().map(|m| {
        let (wire, cfgs) = (&m.wire_name, &m.cfgs);
        quote!(#(#cfgs)* #wire)
    });
    let name = ident.to_string();
    let fan_out = super::fan_out_ident(service);
    let discover_doc = format!(
        "Waits until exactly one other participant serves [`{ident}`] (its manifest \
         attribute lists every method of this client) and returns a client addressed to it. \
         None within `timeout`, and several, are distinct errors \
         (`Error::ServiceNotFound`, `Error::ServiceAmbiguous` listing them)."
    );
    let servers_doc = format!("The identities serving [`{ident}`] now, sorted.");
    let fan_out_doc = format!(
        "Calls every participant serving [`{ident}`] at once: [`{fan_out}`] has the same \
         methods, each returning one result per server."
    );
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client<P = #krate::Participant> {
            __lk: #krate::__private::ClientCore<P>,
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl<P: #krate::RpcEndpoint> #client<P> {
            /// A client that calls `destination`'s implementation through `endpoint`.
            pub fn new(endpoint: P, destination: impl ::core::convert::Into<::std::string::String>) -> Self {
                Self { __lk: #krate::__private::ClientCore::new(endpoint, ::core::convert::Into::into(destination)) }
            }

            /// A copy of this client whose calls wait `timeout` for the response (default
            /// 15 s); use it for one call or keep it.
            pub fn with_timeout(&self, timeout: ::core::time::Duration) -> Self {
                Self { __lk: self.__lk.with_timeout(timeout) }
            }

            /// A copy of this client whose streaming calls use `config` (flow-control
            /// window, idle timeout, deadline).
            pub fn with_stream(&self, config: #krate::streaming::StreamConfig) -> Self {
                Self { __lk: self.__lk.with_stream(config) }
            }

            /// A copy of this client that tells `progress` how far each call's request
            /// goes out and its response comes in (bytes so far, total): for large
            /// payloads, which travel as RPC v2 streams.
            pub fn with_progress(
                &self,
                progress: impl ::core::ops::Fn(#krate::TransferProgress) + ::core::marker::Send + ::core::marker::Sync + 'static,
            ) -> Self {
                Self { __lk: self.__lk.with_progress(progress) }
            }

            /// The identity this client calls.
            pub fn destination(&self) -> &str {
                self.__lk.destination()
            }

            /// What calls go through.
            pub fn endpoint(&self) -> &P {
                self.__lk.endpoint()
            }

            /// How long calls wait for a response.
            pub fn timeout(&self) -> ::core::time::Duration {
                self.__lk.timeout()
            }

            #[doc(hidden)]
            const __LK_WIRES: &'static [&'static str] = &[#(#wires),*];

            #[doc = #discover_doc]
            pub async fn discover(
                endpoint: &P,
                timeout: ::core::time::Duration,
            ) -> ::core::result::Result<Self, #krate::Error> {
                let identity = #krate::__private::wait_for_service(endpoint, #name, Self::__LK_WIRES, timeout).await?;
                ::core::result::Result::Ok(Self::new(::core::clone::Clone::clone(endpoint), identity))
            }

            #[doc = #servers_doc]
            pub fn servers(endpoint: &P) -> ::std::vec::Vec<::std::string::String> {
                #krate::__private::servers(endpoint, #name, Self::__LK_WIRES)
            }

            #[doc = #fan_out_doc]
            pub fn fan_out(endpoint: &P) -> #fan_out<P> {
                #fan_out::from_core(#krate::__private::FanOutCore::new(
                    ::core::clone::Clone::clone(endpoint),
                    #name,
                    Self::__LK_WIRES,
                ))
            }

            #(#methods)*
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl #client {
            #(#consts)*
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
    if let Some(StreamTypes { item, error }) = &m.stream {
        let refused = match &m.output.err {
            Some(e) => quote!(#krate::__private::decode_error::<#e>),
            None => quote!(#krate::CallError::Rpc),
        };
        return quote! {
            #(#carried)*
            pub async fn #ident(&self, #(#args),*)
                -> ::core::result::Result<
                    #krate::streaming::CallStream<#item, #error>,
                    #krate::CallError<#err>,
                >
            {
                self.__lk.open_stream::<#item, #error>(#wire_name, #payload).await.map_err(#refused)
            }
        };
    }
    let call = if m.cancellable {
        quote!(self.__lk.call_cancellable(#wire_name, #payload).await)
    } else {
        quote!(self.__lk.call(#wire_name, #payload).await)
    };
    let finish = finish(m, call);
    quote! {
        #(#carried)*
        pub async fn #ident(&self, #(#args),*)
            -> ::core::result::Result<#ok, #krate::CallError<#err>>
        {
            #finish
        }
    }
}
