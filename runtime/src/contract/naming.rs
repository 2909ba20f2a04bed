//! How a contract's types are named in a generated module (TypeScript, Python): one name
//! per distinct schema, reused where methods share a type, with `$defs` resolved per schema
//! document.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{ServiceContract, TypeSchema};

/// The names a method's parts got in the module (no arguments type: the method takes none).
pub(super) struct MethodTypes {
    pub(super) args: Option<String>,
    pub(super) result: Option<String>,
    pub(super) error: Option<String>,
    /// A streaming method's item, and the error that can end its stream.
    pub(super) item: Option<String>,
    pub(super) item_error: Option<String>,
}

/// One schema document (a method's arguments, result or error) and how its `$defs` are
/// named in the module.
pub(super) struct Root {
    pub(super) method: usize,
    pub(super) part: Part,
    pub(super) name: String,
    pub(super) defs: HashMap<String, String>,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Part {
    Args,
    Result,
    Error,
    Item,
    ItemError,
}

/// A type the module declares under a name of its own.
pub(super) struct NamedType {
    pub(super) name: String,
    pub(super) schema: Value,
    /// The [`Root`] whose `$ref`s its schema's references resolve in.
    pub(super) root: usize,
}

/// The named types of one module, in the order they are declared.
pub(super) struct Names {
    pub(super) types: Vec<NamedType>,
    /// Turns a Rust or schema name into an identifier of the target language.
    identifier: fn(&str) -> String,
}

impl Names {
    pub(super) fn new(identifier: fn(&str) -> String) -> Self {
        Self {
            types: Vec::new(),
            identifier,
        }
    }

    /// Names `schema` `wanted`, reusing an equal type of that name, else a free variant:
    /// a type whose written shape (results, errors) differs from its accepted shape
    /// (arguments) gets `Output` appended, as in `SettingsOutput`.
    pub(super) fn add(&mut self, wanted: &str, schema: Value, root: usize, part: Part) -> String {
        let base = (self.identifier)(wanted);
        let mut candidates = std::iter::once(base.clone())
            .chain((part != Part::Args).then(|| format!("{base}Output")))
            .chain((2..).map(|n| format!("{base}{n}")));
        let mut equal = false;
        let candidate = candidates
            .find(|c| match self.types.iter().find(|t| t.name == *c) {
                Some(existing) => {
                    equal = existing.schema == schema;
                    equal
                }
                None => true,
            })
            .unwrap_or(base);
        if equal {
            return candidate;
        }
        self.types.push(NamedType {
            name: candidate.clone(),
            schema,
            root,
        });
        candidate
    }
}

pub(super) fn pascal(name: &str) -> String {
    camel_case(name)
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 { c.to_ascii_uppercase() } else { c })
        .collect()
}

pub(super) fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Schemas with structure worth a name of their own (not `string`, `number`, ...).
pub(super) fn is_structured(schema: &Value) -> bool {
    [
        "properties",
        "oneOf",
        "anyOf",
        "allOf",
        "enum",
        "additionalProperties",
    ]
    .iter()
    .any(|k| schema.get(k).is_some())
        || schema.get("type") == Some(&Value::from("object"))
}

pub(super) fn without_document_keys(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        map.remove("$defs");
    }
    schema
}

pub(super) fn collect_roots(contract: &ServiceContract, names: &mut Names) -> Vec<Root> {
    let mut roots: Vec<Root> = Vec::new();
    for (i, m) in contract.methods.iter().enumerate() {
        let method_name = pascal(&m.name);
        // Arguments as the Rust side accepts them; results and errors as it writes them
        // (what a TypeScript handler returns in that shape is accepted too).
        let stream = m.stream.as_ref();
        let parts: [(Part, Option<&Value>); 5] = [
            (Part::Args, Some(m.args.accepts())),
            (
                Part::Result,
                m.result.as_ref().map(|r: &TypeSchema| &r.schema),
            ),
            (Part::Error, m.error.as_ref().map(|e| &e.data.schema)),
            (Part::Item, stream.map(|s| &s.item.schema)),
            (
                Part::ItemError,
                stream
                    .and_then(|s| s.error.as_ref())
                    .map(|e| &e.data.schema),
            ),
        ];
        for (part, schema) in parts {
            let Some(schema) = schema else { continue };
            let suffix = match part {
                Part::Args => "Args",
                Part::Result => "Result",
                Part::Error => "Error",
                Part::Item => "Item",
                Part::ItemError => "StreamError",
            };
            let index = roots.len();
            let alias = format!("{method_name}{suffix}");
            let mut defs = HashMap::new();
            if let Some(map) = schema.get("$defs").and_then(Value::as_object) {
                // Names first, so references between definitions resolve.
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                for (name, def) in sorted {
                    let ts = names.add(name, def.clone(), index, part);
                    defs.insert(name.clone(), ts);
                }
            }
            let body = without_document_keys(schema);
            let title = schema.get("title").and_then(Value::as_str);
            let name = match title {
                Some(title) if part != Part::Args && is_structured(&body) => {
                    names.add(title, body, index, part)
                }
                _ => names.add(&alias, body, index, part),
            };
            roots.push(Root {
                method: i,
                part,
                name,
                defs,
            });
        }
    }
    roots
}

pub(super) fn roots_by_method(roots: &[Root]) -> Vec<MethodTypes> {
    let count = roots.iter().map(|r| r.method + 1).max().unwrap_or(0);
    (0..count)
        .map(|i| {
            let find = |part: Part| {
                roots
                    .iter()
                    .find(|r| r.method == i && r.part == part)
                    .map(|r| r.name.clone())
            };
            MethodTypes {
                args: find(Part::Args),
                result: find(Part::Result),
                error: find(Part::Error),
                item: find(Part::Item),
                item_error: find(Part::ItemError),
            }
        })
        .collect()
}
