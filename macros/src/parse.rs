//! Reads a trait into a [`model::Service`], checking everything the wire contract needs
//! and reporting every problem at once, each spanned on the user's code.

use proc_macro2::{Span, TokenStream};
use quote::format_ident;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Attribute, FnArg, ItemTrait, Pat, ReturnType, TraitItem, Type};

use crate::attr::{self, Key};
use crate::model::{doc_text, Method, Output, Param, ParamKind, Service, StreamTypes};

const TRAIT_KEYS: &[Key] = &[
    Key {
        name: "namespace",
        takes_string: true,
    },
    Key {
        name: "contract",
        takes_string: false,
    },
];

const METHOD_KEYS: &[Key] = &[
    Key {
        name: "name",
        takes_string: true,
    },
    Key {
        name: "raw",
        takes_string: false,
    },
    Key {
        name: "cancellable",
        takes_string: false,
    },
];

/// Inherent items of the generated client and server that methods must not shadow.
const RESERVED: &[&str] = &[
    "new",
    "with_timeout",
    "with_stream",
    "with_progress",
    "destination",
    "endpoint",
    "timeout",
    "from_arc",
    "inner",
    "contract",
    "discover",
    "servers",
    "fan_out",
    "from_core",
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
        contract: options.as_ref().and_then(|o| o.flag("contract")).is_some(),
        docs: doc_text(&item.attrs),
        namespace,
    };
    errors.finish(service)
}

fn method(f: &syn::TraitItemFn, namespace: Option<&str>, errors: &mut Errors) -> Option<Method> {
    let sig = &f.sig;
    let before = errors.0.is_some();
    let RpcOptions {
        wire_override,
        raw,
        cancellable,
    } = rpc_options(&f.attrs, errors);
    check_shape(f, errors);
    let ident_name = check_name(sig, errors);
    let mut inputs = sig.inputs.iter();
    check_receiver(sig, inputs.next(), errors);
    let params = params(inputs, errors);
    let output = output(&sig.output, errors);
    let stream = output
        .as_ref()
        .and_then(|o| o.ok.as_ref())
        .and_then(stream_parts);
    if let (Some(span), Some(output), None) = (raw, &output, &stream) {
        check_raw(span, &params, output, errors);
    }
    if stream.is_some() {
        if let Some(span) = raw {
            errors.at(span, "a streaming method (returning `RpcStream`) cannot be #[rpc(raw)]: its items travel as JSON records");
        }
        if let Some(span) = cancellable {
            errors.at(span, "a streaming method is always cancellable: dropping its `CallStream` cancels it; remove `cancellable`");
        }
    }
    check_reserved_keys(&params, errors);
    let wire_name = wire_name(wire_override.as_ref(), namespace, &ident_name, errors);
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
        stream,
        cancellable: cancellable.is_some(),
        docs: doc_text(&f.attrs),
    })
}

/// What a method's `#[rpc(...)]` says.
#[derive(Default)]
struct RpcOptions {
    wire_override: Option<syn::LitStr>,
    raw: Option<Span>,
    cancellable: Option<Span>,
}

/// The method's `#[rpc(name = "..", raw, cancellable)]`.
fn rpc_options(attrs: &[Attribute], errors: &mut Errors) -> RpcOptions {
    let rpc_attrs: Vec<&Attribute> = attrs.iter().filter(|a| is(a, "rpc")).collect();
    let mut options = RpcOptions::default();
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
                options.wire_override = o.string("name").cloned();
                options.raw = o.flag("raw");
                options.cancellable = o.flag("cancellable");
            }
            Err(e) => errors.push(e),
        }
    }
    options
}

/// JSON keys starting with `$` are the `typed_rpc` wire's (`$typed_rpc` carries a call's
/// id and stream parameters), so no parameter may take one, renamed or not.
fn check_reserved_keys(params: &[Param], errors: &mut Errors) {
    for p in params {
        if let ParamKind::Wire { json_key, .. } = &p.kind {
            if json_key.starts_with('$') {
                errors.at(
                    p.ident.span(),
                    format!("the JSON key \"{json_key}\" starts with `$`, which is reserved for the typed_rpc envelope; choose another name"),
                );
            }
        }
    }
}

/// `RpcStream<T, E>` under any path ending in `RpcStream`, with exactly two type arguments.
fn stream_parts(ty: &Type) -> Option<StreamTypes> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    if last.ident != "RpcStream" {
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
        ([item, error], 2) => Some(StreamTypes {
            item: (*item).clone(),
            error: (*error).clone(),
        }),
        _ => None,
    }
}

/// What an RPC method cannot be: not async, const, unsafe, extern, variadic, with a
/// default body, or generic.
fn check_shape(f: &syn::TraitItemFn, errors: &mut Errors) {
    let sig = &f.sig;
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
}

/// The method's name as text, refused where it would clash with generated items.
fn check_name(sig: &syn::Signature, errors: &mut Errors) -> String {
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

    ident_name
}

/// The first input must be a plain `&self`.
fn check_receiver(sig: &syn::Signature, first: Option<&FnArg>, errors: &mut Errors) {
    // Receiver.
    match first {
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
}

/// The wire parameters (named, owned, with only `#[serde]` attributes) and at most one
/// `RpcContext`.
fn params<'a>(inputs: impl Iterator<Item = &'a FnArg>, errors: &mut Errors) -> Vec<Param> {
    let mut params: Vec<Param> = Vec::new();
    for input in inputs {
        let FnArg::Typed(pt) = input else {
            errors.spanned(input, "`self` can only be the first parameter");
            continue;
        };
        let Some(ident) = param_name(&pt.pat, errors) else {
            continue;
        };
        if let Some(problem) = borrowed(&pt.ty) {
            errors.push(problem);
            continue;
        }
        let (serde_attrs, doc_attrs) = param_attrs(&pt.attrs, errors);
        let kind = if is_context(&pt.ty) {
            let first = !params.iter().any(|p| matches!(p.kind, ParamKind::Context));
            check_context(&pt.ty, &serde_attrs, first, errors);
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
            doc_attrs,
            ty: (*pt.ty).clone(),
            kind,
        });
    }
    params
}

/// A parameter is a plain name: it is its JSON key on the wire.
fn param_name(pat: &Pat, errors: &mut Errors) -> Option<syn::Ident> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.clone()),
        Pat::Wild(w) => {
            errors.spanned(
                w,
                "`_` arguments are not supported: every argument is sent by name, so give it one",
            );
            None
        }
        other => {
            errors.spanned(other, "patterns are not supported as arguments: name the argument (the name is its JSON key on the wire)");
            None
        }
    }
}

/// A parameter's `#[serde(...)]` attributes and `///` docs; any other attribute is an
/// error.
fn param_attrs(attrs: &[Attribute], errors: &mut Errors) -> (Vec<Attribute>, Vec<Attribute>) {
    let mut serde_attrs = Vec::new();
    let mut doc_attrs = Vec::new();
    for a in attrs {
        if is(a, "serde") {
            serde_attrs.push(a.clone());
        } else if is(a, "doc") {
            doc_attrs.push(a.clone());
        } else if is(a, "rpc") {
            errors.spanned(a, "#[rpc(...)] goes on the method, not on a parameter");
        } else {
            errors.spanned(
                a,
                "only #[serde(...)] attributes and `///` docs are supported on parameters",
            );
        }
    }
    (serde_attrs, doc_attrs)
}

/// The `RpcContext` parameter is not on the wire, and there is at most one.
fn check_context(ty: &Type, serde_attrs: &[Attribute], first: bool, errors: &mut Errors) {
    if let Some(serde) = serde_attrs.first() {
        errors.spanned(
            serde,
            "the RpcContext parameter is not on the wire; #[serde] does not apply",
        );
    }
    if !first {
        errors.spanned(ty, "only one RpcContext parameter is allowed");
    }
}

/// A raw method passes one `String` through: at most one argument, `String` argument
/// and/or result.
fn check_raw(span: Span, params: &[Param], output: &Output, errors: &mut Errors) {
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

/// The wire name: the override, or the method name under the namespace.
fn wire_name(
    wire_override: Option<&syn::LitStr>,
    namespace: Option<&str>,
    ident_name: &str,
    errors: &mut Errors,
) -> String {
    match wire_override {
        Some(lit) if lit.value().is_empty() => {
            errors.spanned(lit, "the wire name must not be empty");
            String::new()
        }
        Some(lit) => lit.value(),
        None => match namespace {
            Some(ns) => format!("{ns}.{ident_name}"),
            None => ident_name.to_owned(),
        },
    }
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

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::parse_quote;

    use super::service;
    use crate::model::{ParamKind, Service};

    fn parse(args: proc_macro2::TokenStream, item: syn::ItemTrait) -> syn::Result<Service> {
        service(args, item)
    }

    /// Every message of a failed parse, in order.
    fn messages(result: syn::Result<Service>) -> Vec<String> {
        match result {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn model_of_a_valid_trait() {
        let service = parse(
            quote!(namespace = "robot"),
            parse_quote! {
                pub trait Robot {
                    /// Moves.
                    async fn move_arm(&self, joint: u8, #[serde(rename = "deg")] angle: f32) -> Result<Pose, ArmError>;
                    #[rpc(name = "legacy-echo", raw)]
                    async fn echo(&self, text: String) -> String;
                    async fn who(&self, ctx: RpcContext) -> String;
                    async fn ping(&self);
                }
            },
        )
        .unwrap();
        assert_eq!(service.client.to_string(), "RobotClient");
        assert_eq!(service.server.to_string(), "RobotServer");
        let names: Vec<&str> = service
            .methods
            .iter()
            .map(|m| m.wire_name.as_str())
            .collect();
        assert_eq!(
            names,
            ["robot.move_arm", "legacy-echo", "robot.who", "robot.ping"]
        );
        let move_arm = &service.methods[0];
        assert_eq!(move_arm.const_ident.to_string(), "MOVE_ARM");
        let keys: Vec<&str> = move_arm
            .params
            .iter()
            .filter_map(|p| match &p.kind {
                ParamKind::Wire { json_key, .. } => Some(json_key.as_str()),
                ParamKind::Context => None,
            })
            .collect();
        assert_eq!(keys, ["joint", "deg"]);
        assert!(move_arm.output.ok.is_some() && move_arm.output.err.is_some());
        assert!(move_arm.carried.iter().any(|a| a.path().is_ident("doc")));
        assert!(service.methods[1].raw);
        assert!(matches!(
            service.methods[2].params[0].kind,
            ParamKind::Context
        ));
        assert_eq!(service.methods[2].wire_params().count(), 0);
        assert!(service.methods[3].output.ok.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = messages(parse(
            quote!(),
            parse_quote! {
                trait Bad {
                    fn not_async(&self);
                    async fn no_receiver(x: u8);
                    async fn mutable(&mut self);
                    async fn borrowed(&self, s: &str);
                    async fn pattern(&self, (a, b): (u8, u8));
                    async fn generic<T>(&self, t: T);
                    async fn new(&self);
                }
            },
        ));
        let expect = [
            "must be `async fn`",
            "needs a `&self` receiver before its arguments",
            "`&mut self` is not supported",
            "patterns are not supported as arguments",
            "generic parameters are not supported",
            "clashes with an item the macro generates",
        ];
        for needle in expect {
            assert!(
                problems.iter().any(|m| m.contains(needle)),
                "no error containing {needle:?} in {problems:#?}"
            );
        }
        assert!(problems.len() > expect.len(), "{problems:#?}");
    }

    #[test]
    fn duplicate_wire_names_and_raw_misuse_are_refused() {
        let problems = messages(parse(
            quote!(),
            parse_quote! {
                trait Clash {
                    async fn a(&self);
                    #[rpc(name = "a")]
                    async fn b(&self);
                    #[rpc(raw)]
                    async fn c(&self, n: u32) -> u32;
                    #[rpc(name = "")]
                    async fn d(&self);
                    #[rpc(nmae = "x")]
                    async fn e(&self);
                }
            },
        ));
        for needle in [
            "duplicate wire name",
            "the argument must be a `String`",
            "the wire name must not be empty",
            "nmae",
        ] {
            assert!(
                problems.iter().any(|m| m.contains(needle)),
                "no error containing {needle:?} in {problems:#?}"
            );
        }
    }

    #[test]
    fn unknown_trait_keys_are_refused() {
        let problems = messages(parse(
            quote!(namespcae = "x"),
            parse_quote! { trait T { async fn a(&self); } },
        ));
        assert!(
            problems.iter().any(|m| m.contains("namespcae")),
            "{problems:#?}"
        );
    }
}
