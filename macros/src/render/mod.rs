//! Writes the trait, its hidden argument structs, the client and the server from a model.

mod call;
mod client;
mod contract;
mod fan_out;
mod server;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Method, ParamKind, Service};

/// The one path generated code names the runtime by.
fn krate() -> TokenStream {
    quote!(::livekit_typed_rpc)
}

pub fn service(service: &Service) -> TokenStream {
    let trait_def = trait_def(service);
    let args = service.methods.iter().map(|m| args_struct(service, m));
    let client = client::render(service);
    let server = server::render(service);
    let contract = contract::render(service);
    let fan_out = fan_out::render(service);
    quote! {
        #trait_def
        #(#args)*
        #client
        #fan_out
        #server
        #contract
    }
}

fn trait_def(service: &Service) -> TokenStream {
    let Service {
        attrs,
        vis,
        ident,
        supertraits,
        ..
    } = service;
    let colon = (!supertraits.is_empty()).then(|| quote!(:));
    let methods = service.methods.iter().map(|m| {
        let attrs = &m.attrs;
        let name = &m.ident;
        let declared = &m.output.declared;
        let params = m.params.iter().map(|p| {
            let (ident, ty) = (&p.ident, &p.ty);
            quote!(#ident: #ty)
        });
        quote! {
            #(#attrs)*
            fn #name(&self, #(#params),*)
                -> impl ::core::future::Future<Output = #declared> + ::core::marker::Send;
        }
    });
    quote! {
        #(#attrs)*
        #vis trait #ident #colon #supertraits {
            #(#methods)*
        }
    }
}

/// One documented `&'static str` constant per method, on the client and the server.
pub(crate) fn wire_name_consts(service: &Service) -> Vec<TokenStream> {
    service
        .methods
        .iter()
        .map(|m| {
            let (name, wire, cfgs) = (&m.const_ident, &m.wire_name, &m.cfgs);
            let doc = format!(
                "Wire name of [`{}::{}`]: `\"{wire}\"`.",
                service.ident, m.ident
            );
            quote! {
                #(#cfgs)*
                #[doc = #doc]
                pub const #name: &'static str = #wire;
            }
        })
        .collect()
}

/// `<Trait>FanOut`, the fan-out client's name.
pub(crate) fn fan_out_ident(service: &Service) -> syn::Ident {
    format_ident!("{}FanOut", service.ident)
}

pub(crate) fn args_ident(service: &Service, method: &Method) -> syn::Ident {
    let name = method.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    format_ident!("__LkRpcArgs_{}_{}", service.ident, name)
}

/// Raw methods and methods without wire arguments need no arguments struct... except to
/// check that a non-raw payload is a JSON object, so only raw methods skip it.
fn args_struct(service: &Service, method: &Method) -> TokenStream {
    if method.raw {
        return TokenStream::new();
    }
    let krate = krate();
    let ident = args_ident(service, method);
    let cfgs = service.cfgs.iter().chain(&method.cfgs);
    let fields = method.params.iter().filter_map(|p| match &p.kind {
        ParamKind::Wire { serde_attrs, .. } => {
            let (name, ty, docs) = (&p.ident, &p.ty, &p.doc_attrs);
            Some(quote!(#(#docs)* #(#serde_attrs)* #name: #ty,))
        }
        ParamKind::Context => None,
    });
    let serde_crate = format!("{krate}::__private::serde").replace(' ', "");
    // Checked first and spanned on each parameter's type, so a type that cannot cross the
    // wire is reported at that type rather than at the derive below.
    let checks = method.wire_params().map(|p| {
        let ty = &p.ty;
        quote_spanned!(ty.span()=> #krate::__private::assert_wire_type::<#ty>();)
    });
    let check_cfgs = service.cfgs.iter().chain(&method.cfgs);
    // With `contract`, the arguments' schema comes from this struct, so the parameters'
    // serde attributes and docs shape it exactly as they shape decoding.
    let schema_derive = service.contract.then(|| {
        let schemars_crate = format!("{krate}::__private::schemars").replace(' ', "");
        quote! {
            #[derive(#krate::__private::schemars::JsonSchema)]
            #[schemars(crate = #schemars_crate)]
        }
    });
    quote! {
        #(#check_cfgs)*
        const _: () = {
            #[allow(dead_code)]
            fn __lk_wire_types() {
                #(#checks)*
            }
        };

        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, missing_docs)]
        #[derive(#krate::__private::serde::Serialize, #krate::__private::serde::Deserialize)]
        #[serde(crate = #serde_crate)]
        #schema_derive
        struct #ident {
            #(#fields)*
        }
    }
}
