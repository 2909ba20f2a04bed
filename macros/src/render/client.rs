//! The typed client: one `async fn` per method returning `Result<T, CallError<E>>`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{args_ident, krate};
use crate::model::{Method, ParamKind, Service};

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
        output,
        ..
    } = m;
    let params: Vec<_> = m.wire_params().collect();
    let args = params.iter().map(|p| {
        let (name, ty) = (&p.ident, &p.ty);
        quote!(#name: #ty)
    });
    let ok = match &output.ok {
        Some(t) => quote!(#t),
        None => quote!(()),
    };
    let err = match &output.err {
        Some(e) => quote!(#e),
        None => quote!(::core::convert::Infallible),
    };

    let payload = if m.raw {
        match params.first() {
            Some(p) => {
                let name = &p.ident;
                quote!(::core::result::Result::Ok(#name))
            }
            None => quote!(::core::result::Result::Ok(::std::string::String::new())),
        }
    } else {
        let args_ty = args_ident(service, m);
        let fields = m.params.iter().filter_map(|p| match p.kind {
            ParamKind::Wire { .. } => Some(&p.ident),
            ParamKind::Context => None,
        });
        quote!(#krate::__private::encode_args(#wire_name, &#args_ty { #(#fields),* }))
    };

    let reply = quote!(self.__lk.call(#wire_name, #payload).await);
    let finish = match (&output.ok, &output.err, m.raw) {
        (None, None, _) => quote!(#krate::__private::finish_unit_infallible(#wire_name, #reply)),
        (None, Some(e), _) => {
            quote_spanned!(e.span()=> #krate::__private::finish_unit_fallible::<#e>(#wire_name, #reply))
        }
        (Some(_), None, true) => quote!(#krate::__private::finish_raw_infallible(#reply)),
        (Some(_), Some(e), true) => {
            quote_spanned!(e.span()=> #krate::__private::finish_raw_fallible::<#e>(#reply))
        }
        (Some(t), None, false) => {
            quote_spanned!(t.span()=> #krate::__private::finish_infallible::<#t>(#wire_name, #reply))
        }
        (Some(t), Some(e), false) => {
            quote_spanned!(t.span()=> #krate::__private::finish_fallible::<#t, #e>(#wire_name, #reply))
        }
    };
    quote! {
        #(#carried)*
        pub async fn #ident(&self, #(#args),*)
            -> ::core::result::Result<#ok, #krate::CallError<#err>>
        {
            #finish
        }
    }
}
