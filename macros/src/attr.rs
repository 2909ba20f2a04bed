//! The one parser for every `key = "value"` / `flag` list the macro accepts: the trait's
//! `#[livekit_rpc(...)]` arguments and a method's `#[rpc(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};

/// A key this attribute accepts.
pub struct Key {
    pub name: &'static str,
    pub takes_string: bool,
}

/// One parsed entry.
pub struct Entry {
    pub key: Ident,
    pub value: Option<LitStr>,
}

/// What was given, by key.
pub struct Options {
    entries: Vec<Entry>,
}

impl Options {
    pub fn string(&self, key: &str) -> Option<&LitStr> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .and_then(|e| e.value.as_ref())
    }

    pub fn flag(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.key.span())
    }
}

struct RawEntry {
    key: Ident,
    value: Option<syn::Expr>,
}

impl Parse for RawEntry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Self { key, value })
    }
}

/// Parses `tokens` (the inside of the parentheses) against `keys`. `what` names the
/// attribute in messages, e.g. `#[rpc(...)]`.
pub fn parse(tokens: TokenStream, keys: &[Key], what: &str) -> syn::Result<Options> {
    let raw = Punctuated::<RawEntry, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for RawEntry { key, value } in raw {
        let Some(spec) = keys.iter().find(|k| key == k.name) else {
            let known: Vec<String> = keys.iter().map(|k| format!("`{}`", k.name)).collect();
            push(syn::Error::new(
                key.span(),
                format!(
                    "unknown key `{key}` in {what}; expected one of {}",
                    known.join(", ")
                ),
            ));
            continue;
        };
        if entries.iter().any(|e| e.key == key) {
            push(syn::Error::new(
                key.span(),
                format!("duplicate key `{key}` in {what}"),
            ));
            continue;
        }
        let value = match (spec.takes_string, value) {
            (
                true,
                Some(syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                })),
            ) => Some(s),
            (true, Some(other)) => {
                push(syn::Error::new_spanned(
                    other,
                    format!("`{key}` takes a string literal, as in `{key} = \"...\"`"),
                ));
                continue;
            }
            (true, None) => {
                push(syn::Error::new(
                    key.span(),
                    format!("`{key}` needs a value, as in `{key} = \"...\"`"),
                ));
                continue;
            }
            (false, Some(other)) => {
                push(syn::Error::new_spanned(
                    other,
                    format!("`{key}` is a flag and takes no value; write just `{key}`"),
                ));
                continue;
            }
            (false, None) => None,
        };
        entries.push(Entry { key, value });
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(Options { entries }),
    }
}
