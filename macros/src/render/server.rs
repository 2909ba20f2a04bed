//! The server: holds the implementation and serves each method through its own handler
//! (decode arguments, call, encode the result or typed error), so a served call is
//! dispatched once, by the engine's method lookup.

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
        server,
        cfgs,
        ..
    } = service;
    let doc = format!(
        "Serves an implementation of [`{ident}`]: pass `{server}::new(implementation)` to \
         `Participant::serve`; the returned guard unregisters the methods when dropped."
    );
    let bound = quote!(#ident + ::core::marker::Send + ::core::marker::Sync + 'static);
    let wires = service.methods.iter().map(|m| {
        let (wire, cfgs) = (&m.wire_name, &m.cfgs);
        quote!(#(#cfgs)* #wire)
    });
    let consts = super::wire_name_consts(service);
    let name = ident.to_string();
    let namespace = match &service.namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    };
    let contract_fn = service.contract.then(|| {
        let builder = super::contract::builder_ident(service);
        quote! {
            fn contract() -> ::core::option::Option<#krate::__private::ServiceContract> {
                ::core::option::Option::Some(#builder())
            }
        }
    });
    let handle_fns = service.methods.iter().map(|m| handle_fn(service, m));
    let arms = service.methods.iter().map(|m| {
        let (wire, cfgs, handle) = (&m.wire_name, &m.cfgs, handle_ident(m));
        quote! {
            #(#cfgs)*
            #wire => ::std::boxed::Box::pin(Self::#handle(__lk_this, ::core::option::Option::None, __lk_data)),
        }
    });
    let registrations = service.methods.iter().map(|m| {
        let (wire, cfgs, handle) = (&m.wire_name, &m.cfgs, handle_ident(m));
        quote! {
            #(#cfgs)*
            {
                let __lk_this = ::core::clone::Clone::clone(&self.__lk);
                let __lk_hub = ::core::clone::Clone::clone(&__lk_streams);
                let __lk_handler: #krate::__private::RawHandler = ::std::sync::Arc::new(
                    move |__lk_data| ::std::boxed::Box::pin(
                        Self::#handle(
                            ::core::clone::Clone::clone(&__lk_this),
                            ::core::clone::Clone::clone(&__lk_hub),
                            __lk_data,
                        ),
                    ),
                );
                __lk_handlers.push((#wire, __lk_handler));
            }
        }
    });
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #vis struct #server<T> {
            __lk: ::std::sync::Arc<T>,
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl<T: #bound> #server<T> {
            /// Serves `implementation`.
            pub fn new(implementation: T) -> Self {
                Self { __lk: ::std::sync::Arc::new(implementation) }
            }

            /// Serves an implementation that is shared elsewhere too.
            pub fn from_arc(implementation: ::std::sync::Arc<T>) -> Self {
                Self { __lk: implementation }
            }

            /// The implementation being served.
            pub fn inner(&self) -> &::std::sync::Arc<T> {
                &self.__lk
            }

            #(#handle_fns)*
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl #server<()> {
            #(#consts)*
        }

        #(#cfgs)*
        impl<T: #bound> #krate::Service for #server<T> {
            const METHODS: &'static [&'static str] = &[#(#wires),*];
            const NAME: &'static str = #name;
            const NAMESPACE: ::core::option::Option<&'static str> = #namespace;
            #contract_fn

            #[allow(unused_variables)]
            fn call(
                &self,
                __lk_method: &str,
                __lk_data: #krate::__private::RpcInvocationData,
            ) -> #krate::__private::BoxFuture<'static, ::core::result::Result<::std::string::String, #krate::RpcError>> {
                let __lk_this = ::core::clone::Clone::clone(&self.__lk);
                match __lk_method {
                    #(#arms)*
                    _ => ::std::boxed::Box::pin(async move {
                        ::core::result::Result::Err(#krate::RpcError::built_in(
                            #krate::RpcErrorCode::UnsupportedMethod,
                            ::core::option::Option::None,
                        ))
                    }),
                }
            }

            fn handlers(
                self: ::std::sync::Arc<Self>,
                __lk_streams: ::core::option::Option<::std::sync::Arc<#krate::__private::StreamHub>>,
            ) -> ::std::vec::Vec<(&'static str, #krate::__private::RawHandler)> {
                #[allow(unused_mut)]
                let mut __lk_handlers = ::std::vec::Vec::new();
                #(#registrations)*
                __lk_handlers
            }
        }
    }
}

/// `__lk_handle_move_arm`: the one function serving `move_arm`.
fn handle_ident(m: &Method) -> syn::Ident {
    quote::format_ident!("__lk_handle_{}", m.ident)
}

/// Decodes the arguments, calls the method and encodes its result or typed error.
fn handle_fn(service: &Service, m: &Method) -> TokenStream {
    let krate = krate();
    let Method {
        ident,
        wire_name,
        cfgs,
        output,
        ..
    } = m;
    let has_context = m
        .params
        .iter()
        .any(|p| matches!(p.kind, ParamKind::Context));
    // A streaming call is registered (and checked) before its arguments are decoded; a
    // handler a caller may cancel is registered for as long as it runs.
    let open_stream = m.stream.as_ref().map(|_| {
        quote! {
            let __lk_opening = #krate::__private::open_served(__lk_hub.as_ref(), #wire_name, &__lk_data)?;
        }
    });
    let context = if m.stream.is_some() {
        has_context.then(|| {
            quote!(let __lk_context = #krate::__private::stream_context(&__lk_data, &__lk_opening);)
        })
    } else if has_context || m.cancellable {
        Some(quote! {
            let (__lk_context, __lk_registration) =
                #krate::__private::registered_context(&__lk_data, __lk_hub.as_ref());
        })
    } else {
        None
    };
    let decode = if m.raw {
        TokenStream::new()
    } else {
        let args_ty = args_ident(service, m);
        let checks = m.params.iter().filter_map(|p| match &p.kind {
            ParamKind::Wire {
                serde_attrs,
                json_key,
            } if serde_attrs.is_empty() => {
                let ty = &p.ty;
                Some(quote_spanned! {ty.span()=>
                    (#json_key, #krate::__private::check_arg::<#ty> as #krate::__private::ArgCheckFn)
                })
            }
            _ => None,
        });
        let keys = m.params.iter().filter_map(|p| match &p.kind {
            ParamKind::Wire { json_key, .. } => Some(json_key),
            ParamKind::Context => None,
        });
        quote! {
            let __lk_args: #args_ty = #krate::__private::decode_args(
                #wire_name,
                &__lk_data.payload,
                &[#(#keys),*],
                &[#(#checks),*],
            )?;
        }
    };
    let call_args = m.params.iter().map(|p| match &p.kind {
        ParamKind::Context => quote!(::core::clone::Clone::clone(&__lk_context)),
        ParamKind::Wire { .. } if m.raw => quote!(__lk_data.payload),
        ParamKind::Wire { .. } => {
            let name = &p.ident;
            quote!(__lk_args.#name)
        }
    });
    let encode_ok = |value: TokenStream| match &output.ok {
        Some(_) if m.stream.is_some() => {
            quote!(::core::result::Result::Ok(__lk_opening.start(#value, __lk_encode)))
        }
        None => quote!(#krate::__private::encode_unit(#value)),
        Some(_) if m.raw => quote!(::core::result::Result::Ok(#value)),
        Some(t) => quote_spanned!(t.span()=> #krate::__private::encode_value(#wire_name, &#value)),
    };
    let finish = match &output.err {
        None => encode_ok(quote!(__lk_out)),
        Some(_) => {
            let ok = encode_ok(quote!(__lk_value));
            quote! {
                match __lk_out {
                    ::core::result::Result::Ok(__lk_value) => #ok,
                    ::core::result::Result::Err(__lk_error) => {
                        ::core::result::Result::Err(#krate::__lk_application_error!(__lk_error))
                    }
                }
            }
        }
    };
    let encode_item_error = m.stream.as_ref().map(|st| {
        let error = &st.error;
        quote! {
            let __lk_encode: fn(&#error) -> #krate::RpcError =
                |__lk_e| #krate::__lk_application_error!(*__lk_e);
        }
    });
    // Cancelled: a handler that takes an `RpcContext` decides when to stop (and its late
    // result is not sent); one that cannot see the cancel is dropped at its next await.
    let call = quote!(__lk_this.#ident(#(#call_args),*));
    let run = match (m.cancellable, has_context) {
        (true, false) => quote! {
            let ::core::option::Option::Some(__lk_out) =
                #krate::__private::unless_cancelled(&__lk_context, #call).await
            else {
                return ::core::result::Result::Err(#krate::__private::cancelled_late(#wire_name));
            };
        },
        (true, true) => quote! {
            let __lk_out = #call.await;
            if __lk_context.is_cancelled() {
                return ::core::result::Result::Err(#krate::__private::cancelled_late(#wire_name));
            }
        },
        (false, _) => quote!(let __lk_out = #call.await;),
    };
    let handle = handle_ident(m);
    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(deprecated, unused_variables)]
        async fn #handle(
            __lk_this: ::std::sync::Arc<T>,
            __lk_hub: ::core::option::Option<::std::sync::Arc<#krate::__private::StreamHub>>,
            __lk_data: #krate::__private::RpcInvocationData,
        ) -> ::core::result::Result<::std::string::String, #krate::RpcError> {
            #open_stream
            #context
            #decode
            #run
            #encode_item_error
            #finish
        }
    }
}
