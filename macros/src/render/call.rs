//! How a generated stub makes one call, shared by the client and the fan-out: its
//! parameters, its payload, its result types and how a reply becomes the typed result.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{args_ident, krate};
use crate::model::{Method, ParamKind, Service};

/// `name: Type` for each wire parameter.
pub(crate) fn params(m: &Method) -> Vec<TokenStream> {
    m.wire_params()
        .map(|p| {
            let (name, ty) = (&p.ident, &p.ty);
            quote!(#name: #ty)
        })
        .collect()
}

/// The success and error types a call returns.
pub(crate) fn result_types(m: &Method) -> (TokenStream, TokenStream) {
    let ok = match &m.output.ok {
        Some(t) => quote!(#t),
        None => quote!(()),
    };
    let err = match &m.output.err {
        Some(e) => quote!(#e),
        None => quote!(::core::convert::Infallible),
    };
    (ok, err)
}

/// The payload of a call: the raw string, or the encoded arguments object.
pub(crate) fn payload(service: &Service, m: &Method) -> TokenStream {
    let krate = krate();
    let wire_name = &m.wire_name;
    if m.raw {
        match m.wire_params().next() {
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
    }
}

/// Turns `reply` (a `Result<String, RpcError>`) into the typed result.
pub(crate) fn finish(m: &Method, reply: TokenStream) -> TokenStream {
    let krate = krate();
    let wire_name = &m.wire_name;
    match (&m.output.ok, &m.output.err, m.raw) {
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
    }
}
