//! Reads a trait into a [`model::Service`], checking everything the wire contract needs
//! and reporting every problem at once, each spanned on the user's code.

use proc_macro2::{Span, TokenStream};
use quote::format_ident;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Attribute, FnArg, ItemTrait, Pat, ReturnType, TraitItem, Type};

use crate::attr::{self, Key};
use crate::model::{Method, Output, Param, ParamKind, Service};

const TRAIT_KEYS: &[Key] = &[Key {
    name: "namespace",
    takes_string: true,
}];

const METHOD_KEYS: &[Key] = &[
    Key {
        name: "name",
        takes_string: true,
    },
    Key {
        name: "raw",
        takes_string: false,
    },
];

/// Inherent items of the generated client and server that methods must not shadow.
const RESERVED: &[&str] = &[
    "new",
    "with_timeout",
    "destination",
    "endpoint",
    "timeout",
    "from_arc",
    "inner",
];

/// Attributes that make sense on the generated client method too.
const CARRIED: &[&str] = &[
    "doc",
    "cfg",
    "cfg_attr",
    "deprecated",
    "allow",
    "warn",
    "deny",
    "expect",
];

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

fn is(attr: &Attribute, name: &str) -> bool {
    attr.path().is_ident(name)
}

fn ident_text(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

pub fn service(args: TokenStream, item: ItemTrait) -> syn::Result<Service> {
    let mut errors = Errors::default();
    let options = match attr::parse(args, TRAIT_KEYS, "#[livekit_rpc(...)]") {
        Ok(o) => Some(o),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let namespace = options
        .as_ref()
        .and_then(|o| o.string("namespace"))
        .map(|s| {
            if s.value().is_empty() {
                errors.spanned(s, "`namespace` must not be empty");
            }
            s.value()
        });

    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.spanned(
            &item.generics,
            "generic parameters on a #[livekit_rpc] trait are not supported: every method needs one concrete wire format; use concrete argument and result types",
        );
    }
    if let Some(u) = &item.unsafety {
        errors.spanned(u, "a #[livekit_rpc] trait cannot be `unsafe`");
    }
    if let Some(a) = &item.auto_token {
        errors.spanned(a, "a #[livekit_rpc] trait cannot be an auto trait");
    }

    let mut methods: Vec<Method> = Vec::new();
    for trait_item in &item.items {
        match trait_item {
            TraitItem::Fn(f) => {
                if let Some(m) = method(f, namespace.as_deref(), &mut errors) {
                    methods.push(m);
                }
            }
            TraitItem::Type(t) => errors.spanned(
                t,
                "associated types are not supported in a #[livekit_rpc] trait: the wire format needs concrete types",
            ),
            TraitItem::Const(c) => errors.spanned(
                c,
                "associated constants are not supported in a #[livekit_rpc] trait; the generated client and server carry the wire names as constants",
            ),
            other => errors.spanned(other, "only `async fn` methods are supported in a #[livekit_rpc] trait"),
        }
    }
    if item.items.is_empty() {
        errors.at(
            item.ident.span(),
            format!(
                "#[livekit_rpc] trait `{}` has no methods; add at least one `async fn`",
                item.ident
            ),
        );
    }

    // Wire names and generated constants must be unique.
    for (i, m) in methods.iter().enumerate() {
        if let Some(first) = methods[..i].iter().find(|o| o.wire_name == m.wire_name) {
            errors.at(
                m.ident.span(),
                format!(
                    "duplicate wire name \"{}\": method `{}` already uses it; give one of them another `#[rpc(name = \"...\")]`",
                    m.wire_name, first.ident
                ),
            );
        } else if let Some(first) = methods[..i].iter().find(|o| o.const_ident == m.const_ident) {
            errors.at(
                m.ident.span(),
                format!(
                    "methods `{}` and `{}` would both get the wire-name constant `{}`; rename one",
                    first.ident, m.ident, m.const_ident
                ),
            );
        }
    }

    let attrs: Vec<Attribute> = item.attrs.clone();
    let cfgs = item
        .attrs
        .iter()
        .filter(|a| is(a, "cfg"))
        .cloned()
        .collect();
    let service = Service {
        attrs,
        cfgs,
        vis: item.vis.clone(),
        client: format_ident!("{}Client", item.ident),
        server: format_ident!("{}Server", item.ident),
        ident: item.ident.clone(),
        supertraits: item.supertraits.clone(),
        methods,
    };
    errors.finish(service)
}

fn method(f: &syn::TraitItemFn, namespace: Option<&str>, errors: &mut Errors) -> Option<Method> {
    let sig = &f.sig;
    let before = errors.0.is_some();

    // #[rpc(...)]
    let rpc_attrs: Vec<&Attribute> = f.attrs.iter().filter(|a| is(a, "rpc")).collect();
    let mut wire_override: Option<syn::LitStr> = None;
    let mut raw: Option<Span> = None;
    for (n, a) in rpc_attrs.iter().enumerate() {
        if n > 0 {
            errors.spanned(a, "duplicate #[rpc(...)] attribute; put all keys in one");
            continue;
        }
        let tokens = match &a.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            other => {
                errors.spanned(
                    other,
                    "malformed attribute: write #[rpc(name = \"...\")] or #[rpc(raw)]",
                );
                continue;
            }
        };
        match attr::parse(tokens, METHOD_KEYS, "#[rpc(...)]") {
            Ok(o) => {
                wire_override = o.string("name").cloned();
                raw = o.flag("raw");
            }
            Err(e) => errors.push(e),
        }
    }

    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!(
                "#[livekit_rpc] methods must be `async fn`: write `async fn {}(&self, ...)`",
                sig.ident
            ),
        );
    }
    if let Some(c) = &sig.constness {
        errors.spanned(c, "#[livekit_rpc] methods cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        errors.spanned(u, "#[livekit_rpc] methods cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, "#[livekit_rpc] methods cannot declare an ABI");
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v, "#[livekit_rpc] methods cannot be variadic");
    }
    if let Some(body) = &f.default {
        errors.at(
            body.brace_token.span.join(),
            "default method bodies are not supported in a #[livekit_rpc] trait; implement the method on your type",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let what = if sig.generics.lifetimes().next().is_some() {
            "lifetime parameters"
        } else {
            "generic parameters"
        };
        errors.spanned(
            &sig.generics,
            format!("{what} are not supported on #[livekit_rpc] methods: arguments arrive from the wire and must be owned, concrete types"),
        );
    }

    let ident_name = ident_text(&sig.ident);
    if RESERVED.contains(&ident_name.as_str()) {
        errors.at(
            sig.ident.span(),
            format!(
                "method name `{ident_name}` clashes with an item the macro generates on the client or server; rename the method and keep its wire name with #[rpc(name = \"{ident_name}\")]"
            ),
        );
    }
    if ident_name.starts_with("__lk") {
        errors.at(
            sig.ident.span(),
            "method names starting with `__lk` are reserved for generated code",
        );
    }

    // Receiver.
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) => {
            if r.colon_token.is_some() {
                errors.spanned(
                    r,
                    "write the receiver as `&self`; typed receivers are not supported",
                );
            } else if r.reference.is_none() {
                errors.spanned(r, "the receiver must be `&self`: the server shares one value between concurrent calls");
            } else if r.mutability.is_some() {
                errors.spanned(r, "`&mut self` is not supported: the server runs calls concurrently on one shared value; take `&self` and use interior mutability (a Mutex or atomics)");
            } else if let Some((_, Some(lt))) = &r.reference {
                errors.spanned(
                    lt,
                    "lifetimes are not supported on the receiver; write `&self`",
                );
            }
        }
        Some(FnArg::Typed(t)) => errors.spanned(
            t,
            format!(
                "method `{}` needs a `&self` receiver before its arguments: write `async fn {}(&self, ...)`",
                sig.ident, sig.ident
            ),
        ),
        None => errors.at(
            sig.ident.span(),
            format!(
                "method `{}` needs a `&self` receiver: write `async fn {}(&self, ...)`",
                sig.ident, sig.ident
            ),
        ),
    }

    let mut params = Vec::new();
    for input in inputs {
        let FnArg::Typed(pt) = input else {
            errors.spanned(input, "`self` can only be the first parameter");
            continue;
        };
        let ident = match &*pt.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            Pat::Wild(w) => {
                errors.spanned(w, "`_` arguments are not supported: every argument is sent by name, so give it one");
                continue;
            }
            other => {
                errors.spanned(other, "patterns are not supported as arguments: name the argument (the name is its JSON key on the wire)");
                continue;
            }
        };
        if let Some(problem) = borrowed(&pt.ty) {
            errors.push(problem);
            continue;
        }
        let mut serde_attrs = Vec::new();
        for a in &pt.attrs {
            if is(a, "serde") {
                serde_attrs.push(a.clone());
            } else if is(a, "rpc") {
                errors.spanned(a, "#[rpc(...)] goes on the method, not on a parameter");
            } else {
                errors.spanned(
                    a,
                    "only #[serde(...)] attributes are supported on parameters",
                );
            }
        }
        let kind = if is_context(&pt.ty) {
            if !serde_attrs.is_empty() {
                errors.spanned(
                    &serde_attrs[0],
                    "the RpcContext parameter is not on the wire; #[serde] does not apply",
                );
            }
            if params
                .iter()
                .any(|p: &Param| matches!(p.kind, ParamKind::Context))
            {
                errors.spanned(&pt.ty, "only one RpcContext parameter is allowed");
            }
            ParamKind::Context
        } else {
            let json_key = serde_rename(&serde_attrs).unwrap_or_else(|| ident_text(&ident));
            ParamKind::Wire {
                serde_attrs,
                json_key,
            }
        };
        params.push(Param {
            ident,
            ty: (*pt.ty).clone(),
            kind,
        });
    }

    let output = output(&sig.output, errors);

    if let (Some(span), Some(output)) = (raw, &output) {
        let wire: Vec<&Param> = params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Wire { .. }))
            .collect();
        if wire.len() > 1 {
            errors.spanned(&wire[1].ty, "#[rpc(raw)] passes one `String` payload through untouched; a raw method takes at most one argument");
        }
        let mut any_string = false;
        if let Some(p) = wire.first() {
            if is_string(&p.ty) {
                any_string = true;
            } else {
                errors.spanned(&p.ty, "#[rpc(raw)] passes the payload through untouched, so the argument must be a `String`");
            }
        }
        if let Some(ok) = &output.ok {
            if is_string(ok) {
                any_string = true;
            } else {
                errors.spanned(ok, "#[rpc(raw)] passes the payload through untouched, so the result must be a `String` (or `()`)");
            }
        }
        if !any_string && wire.is_empty() && output.ok.is_none() {
            errors.at(
                span,
                "#[rpc(raw)] needs a `String` argument or a `String` result to pass through",
            );
        }
    }

    let wire_name = match &wire_override {
        Some(lit) if lit.value().is_empty() => {
            errors.spanned(lit, "the wire name must not be empty");
            String::new()
        }
        Some(lit) => lit.value(),
        None => match namespace {
            Some(ns) => format!("{ns}.{ident_name}"),
            None => ident_name.clone(),
        },
    };

    if errors.0.is_some() && !before {
        // Other methods are still checked, but this one is not rendered half-valid.
        return None;
    }
    let output = output?;
    let attrs = f.attrs.iter().filter(|a| !is(a, "rpc")).cloned().collect();
    let carried = f
        .attrs
        .iter()
        .filter(|a| CARRIED.iter().any(|c| is(a, c)))
        .cloned()
        .collect();
    let cfgs = f.attrs.iter().filter(|a| is(a, "cfg")).cloned().collect();
    Some(Method {
        const_ident: syn::Ident::new(&ident_name.to_uppercase(), sig.ident.span()),
        ident: sig.ident.clone(),
        wire_name,
        attrs,
        carried,
        cfgs,
        params,
        output,
        raw: raw.is_some(),
    })
}

fn output(ret: &ReturnType, errors: &mut Errors) -> Option<Output> {
    let declared: Type = match ret {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Some(problem) = borrowed(&declared) {
        errors.push(problem);
        return None;
    }
    let unit = |t: &Type| matches!(t, Type::Tuple(tuple) if tuple.elems.is_empty());
    if let Some((ok, err)) = result_parts(&declared) {
        return Some(Output {
            ok: (!unit(&ok)).then_some(ok),
            err: Some(err),
            declared,
        });
    }
    Some(Output {
        ok: (!unit(&declared)).then(|| declared.clone()),
        err: None,
        declared,
    })
}

/// `Result<T, E>` under any path ending in `Result`, with exactly two type arguments.
fn result_parts(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    match (types.as_slice(), args.args.len()) {
        ([ok, err], 2) => Some(((*ok).clone(), (*err).clone())),
        _ => None,
    }
}

fn is_string(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "String" && s.arguments.is_empty()))
}

fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "RpcContext" && s.arguments.is_empty()))
}

/// `#[serde(rename = "...")]` on a parameter, to name it in decode errors.
fn serde_rename(attrs: &[Attribute]) -> Option<String> {
    let mut found = None;
    for a in attrs {
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                if let Ok(value) = meta.value() {
                    if let Ok(s) = value.parse::<syn::LitStr>() {
                        found = Some(s.value());
                    }
                }
            } else if meta.input.peek(syn::Token![=]) {
                let _ = meta.value()?.parse::<syn::Expr>();
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.parse_nested_meta(|_| Ok(()));
            }
            Ok(())
        });
    }
    found
}

/// A reference or lifetime anywhere in a type: arguments and results cross the wire and
/// must be owned. Suggests the owned type for the common cases.
fn borrowed(ty: &Type) -> Option<syn::Error> {
    if let Type::Reference(r) = ty {
        let elem = &r.elem;
        let suggestion = match &**elem {
            Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
            Type::Slice(s) => {
                let inner = &s.elem;
                format!("Vec<{}>", quote::quote!(#inner))
            }
            other => quote::quote!(#other).to_string(),
        };
        return Some(syn::Error::new(
            ty.span(),
            format!("arguments and results are decoded from the wire and must be owned: use `{suggestion}` instead of a reference"),
        ));
    }
    struct FindLifetime(Option<Span>);
    impl<'ast> Visit<'ast> for FindLifetime {
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            self.0.get_or_insert(l.span());
        }
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            self.0.get_or_insert(r.and_token.span);
        }
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.0.get_or_insert(t.impl_token.span);
        }
    }
    let mut finder = FindLifetime(None);
    finder.visit_type(ty);
    finder.0.map(|span| {
        syn::Error::new(
            span,
            "arguments and results are decoded from the wire and must be owned types without references, lifetimes or `impl Trait`",
        )
    })
}
