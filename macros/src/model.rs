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
}

pub struct Param {
    pub ident: Ident,
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

impl Method {
    pub fn wire_params(&self) -> impl Iterator<Item = &Param> {
        self.params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Wire { .. }))
    }
}
