//! With `#[livekit_rpc(contract)]`: `contract()` on the client and the server, describing
//! the service from the same types and attributes the wire uses.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{args_ident, krate};
use crate::model::{doc_text, Method, ParamKind, Service};

pub fn render(service: &Service) -> TokenStream {
    if !service.contract {
        return TokenStream::new();
    }
    let krate = krate();
    let Service {
        ident,
        client,
        server,
        cfgs,
        docs,
        ..
    } = service;
    let name = ident.to_string();
    let namespace = match &service.namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    };
    let builder = builder_ident(service);
    let methods = service.methods.iter().map(|m| method(service, m));
    let doc = format!(
        "The contract of [`{ident}`]: wire names, docs and JSON Schemas of every method, for \
         other languages and LLM tools (see `livekit_typed_rpc::contract`)."
    );
    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #builder() -> #krate::__private::ServiceContract {
            #[allow(unused_mut)]
            let mut __lk_methods = ::std::vec::Vec::new();
            #(#methods)*
            #krate::__private::service_contract(#name, #namespace, #docs, __lk_methods)
        }

        #(#cfgs)*
        impl #server<()> {
            #[doc = #doc]
            pub fn contract() -> #krate::__private::ServiceContract {
                #builder()
            }
        }

        #(#cfgs)*
        impl #client {
            #[doc = #doc]
            pub fn contract() -> #krate::__private::ServiceContract {
                #builder()
            }
        }
    }
}

/// The hidden function building the contract, shared by the client, server and Service.
pub fn builder_ident(service: &Service) -> syn::Ident {
    format_ident!("__lk_contract_{}", service.ident)
}

fn method(service: &Service, m: &Method) -> TokenStream {
    let krate = krate();
    let name = m.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    let (wire, docs) = (&m.wire_name, &m.docs);
    let params: Vec<TokenStream> = m
        .params
        .iter()
        .filter_map(|p| match &p.kind {
            ParamKind::Wire { json_key, .. } => {
                let docs = doc_text(&p.doc_attrs);
                Some(quote!((#json_key, #docs)))
            }
            ParamKind::Context => None,
        })
        .collect();
    let base = if m.raw {
        let param = match params.first() {
            Some(p) => quote!(::core::option::Option::Some(#p)),
            None => quote!(::core::option::Option::None),
        };
        quote!(#krate::__private::raw_method_contract(#name, #wire, #docs, #param))
    } else {
        let args = args_ident(service, m);
        quote!(#krate::__private::method_contract::<#args>(#name, #wire, #docs, &[#(#params),*]))
    };
    let result = match (&m.output.ok, m.raw) {
        (None, _) => quote!(::core::option::Option::None),
        (Some(_), _) if m.stream.is_some() => quote!(::core::option::Option::None),
        (Some(_), true) => quote!(::core::option::Option::Some(#krate::__private::raw_result())),
        // The type's own tokens carry its span: a type without `JsonSchema` is reported
        // there, once.
        (Some(t), false) => {
            quote!(::core::option::Option::Some(#krate::__private::type_schema::<#t>()))
        }
    };
    let error = match &m.output.err {
        None => quote!(::core::option::Option::None),
        Some(e) => quote! {
            ::core::option::Option::Some(#krate::__private::error_contract::<#e>(
                #krate::__lk_error_codes!(#e),
            ))
        },
    };
    let stream = match &m.stream {
        None => quote!(::core::option::Option::None),
        Some(crate::model::StreamTypes { item, error }) => quote! {
            ::core::option::Option::Some(#krate::__private::stream_contract::<#item>(
                ::core::option::Option::Some(#krate::__private::error_contract::<#error>(
                    #krate::__lk_error_codes!(#error),
                )),
            ))
        },
    };
    let cancellable = m.cancellable;
    let cfgs = &m.cfgs;
    quote! {
        #(#cfgs)*
        {
            let mut __lk_method = #base;
            __lk_method.result = #result;
            __lk_method.error = #error;
            __lk_method.stream = #stream;
            __lk_method.cancellable = #cancellable;
            __lk_methods.push(__lk_method);
        }
    }
}
