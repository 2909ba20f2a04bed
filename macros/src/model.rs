//! The validated description of a service: what parsing guarantees and rendering relies on.

use proc_macro2::Ident;
use syn::{Attribute, Type, Visibility};

pub struct Service {
    /// Attributes of the trait other than ours (docs, cfg, ...).
    pub attrs: Vec<Attribute>,
    /// Only the `cfg`s of the trait, repeated on every generated item.
    pub cfgs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub supertraits: syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>,
    pub client: Ident,
    pub server: Ident,
    pub methods: Vec<Method>,
    /// The trait's `namespace`, if any.
    pub namespace: Option<String>,
    /// `#[livekit_rpc(contract)]`: export JSON Schemas and a `contract()` (types need
    /// `schemars::JsonSchema`).
    pub contract: bool,
    /// The trait's `///` docs, as text.
    pub docs: String,
}

pub struct Method {
    pub ident: Ident,
    pub wire_name: String,
    /// `MOVE_ARM` for `move_arm`: the wire-name constant.
    pub const_ident: Ident,
    /// Attributes carried to the trait method (everything but `#[rpc]`).
    pub attrs: Vec<Attribute>,
    /// Attributes carried to the client method (docs, cfg, deprecated, lints).
    pub carried: Vec<Attribute>,
    /// The method's `cfg`s, repeated on its server arm, constant and arguments struct.
    pub cfgs: Vec<Attribute>,
    pub params: Vec<Param>,
    pub output: Output,
    /// `#[rpc(raw)]`: the `String` parameter and/or `String` result pass untouched.
    pub raw: bool,
    /// A streaming method: its success type (`output.ok`) is `RpcStream<item, error>`.
    pub stream: Option<StreamTypes>,
    /// `#[rpc(cancellable)]`: the caller sends a call id and cancels when it gives up.
    pub cancellable: bool,
    /// The method's `///` docs, as text.
    pub docs: String,
}

/// The item and error types of a streaming method's `RpcStream<T, E>`.
pub struct StreamTypes {
    pub item: Type,
    pub error: Type,
}

pub struct Param {
    pub ident: Ident,
    /// The parameter's `///` docs (kept for the arguments struct and the contract).
    pub doc_attrs: Vec<Attribute>,
    pub ty: Type,
    pub kind: ParamKind,
}

pub enum ParamKind {
    /// Travels in the JSON arguments object under `json_key`.
    Wire {
        serde_attrs: Vec<Attribute>,
        json_key: String,
    },
    /// The invocation context, filled in by the server.
    Context,
}

pub struct Output {
    /// The success type; `None` for `()`.
    pub ok: Option<Type>,
    /// The error type of a `Result<T, E>` method.
    pub err: Option<Type>,
    /// The method's declared return type, as written (`()` when none).
    pub declared: Type,
}

/// The text of `///` comments (`#[doc = ".."]` attributes), one line each, trimmed.
pub fn doc_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                ..
            }) => Some(s.value()),
            _ => None,
        })
        .flat_map(|text| {
            // `///` alone is `#[doc = ""]`: a paragraph break, which `lines()` would drop.
            let lines: Vec<String> = text
                .lines()
                .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned())
                .collect();
            if lines.is_empty() {
                vec![String::new()]
            } else {
                lines
            }
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

impl Method {
    pub fn wire_params(&self) -> impl Iterator<Item = &Param> {
        self.params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Wire { .. }))
    }
}
