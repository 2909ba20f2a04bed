//! One contract for every language: what a `#[livekit_rpc(contract)]` service serves, as
//! data — wire names, docs and JSON Schemas (draft 2020-12) of each method's arguments,
//! result and typed error — and the files other languages and LLMs use, rendered from it:
//! the contract JSON, a TypeScript module for `livekit-client`, a Python module for
//! LiveKit's Python SDK (pydantic models, a typed client and handlers, `livekit-agents`
//! tools), OpenAI function tools and MCP tools ([`write_all`]).
//!
//! ```
//! use livekit_typed_rpc::livekit_rpc;
//! use livekit_typed_rpc::contract::ServiceContract;
//!
//! /// Where things are.
//! #[livekit_rpc(contract, namespace = "geo")]
//! pub trait Geo {
//!     /// The distance between two cities, in kilometres.
//!     async fn distance(&self, from: String, to: String) -> f64;
//! }
//!
//! let contract: ServiceContract = GeoServer::contract();
//! assert_eq!(contract.methods[0].wire_name, "geo.distance");
//! assert_eq!(contract.methods[0].docs, "The distance between two cities, in kilometres.");
//! let dir = std::env::temp_dir().join("geo-contract-doc");
//! let written = livekit_typed_rpc::contract::write_all(&dir, &[contract]).unwrap();
//! assert!(written.iter().any(|p| p.ends_with("geo.ts")));
//! assert!(written.iter().any(|p| p.ends_with("geo_rpc.py")));
//! ```

mod naming;
mod python;
pub(crate) mod schema;
mod tools;
mod typescript;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use python::python;
pub use tools::{mcp_tools, openai_tool_name, openai_tools, openai_tools_strict};
pub use typescript::typescript;

/// The `format` of a contract document; changes only when its shape does.
pub const FORMAT: &str = "livekit-typed-rpc/contract@1";

/// What a service serves, in terms any language can use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceContract {
    /// The trait's name (`Geo`).
    pub service: String,
    /// The trait's `namespace`, when it has one.
    pub namespace: Option<String>,
    /// The trait's `///` docs.
    pub docs: String,
    /// The methods, in declaration order.
    pub methods: Vec<MethodContract>,
}

/// One method of a [`ServiceContract`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodContract {
    /// The Rust method name (`move_arm`).
    pub name: String,
    /// The LiveKit RPC method name (`robot.move_arm`).
    pub wire_name: String,
    /// The method's `///` docs.
    pub docs: String,
    /// `#[rpc(raw)]`: the payload and/or result is a string passed untouched, not JSON.
    pub raw: bool,
    /// The wire parameters, in declaration order, under their JSON keys.
    pub params: Vec<ParamContract>,
    /// The arguments object (a raw method: the payload string).
    pub args: TypeSchema,
    /// The result; `None` for `()`, which travels as the empty payload.
    pub result: Option<TypeSchema>,
    /// The typed error of a `Result<T, E>` method (for a streaming method: the error that
    /// refuses to open the stream).
    pub error: Option<ErrorContract>,
    /// A streaming method (its result is `RpcStream<T, E>`): what its stream carries.
    /// `result` is then `None`; callers open it as the `typed_rpc` wire describes
    /// (`livekit_typed_rpc::streaming`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamContract>,
    /// `#[rpc(cancellable)]`: a caller may send a call id and cancel the running handler.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancellable: bool,
}

/// What a streaming method's stream carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamContract {
    /// One item (`i` of each `{"n":..,"i":..}` record).
    pub item: TypeSchema,
    /// The typed error that can end the stream (in the `end` record's `error.data`).
    pub error: Option<ErrorContract>,
}

/// One wire parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamContract {
    /// Its JSON key (after any `#[serde(rename)]`).
    pub name: String,
    /// Its `///` docs.
    pub docs: String,
    /// Whether a caller must send it (`Option` and `#[serde(default)]` ones may be left out).
    pub required: bool,
}

/// The JSON Schema of a type: what its `Serialize` writes and, where that differs, what
/// its `Deserialize` accepts. Each schema is a standalone draft 2020-12 document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TypeSchema {
    /// What the type's `Serialize` writes.
    pub schema: Value,
    /// What its `Deserialize` accepts, only where that is not `schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deserialize: Option<Value>,
}

impl TypeSchema {
    /// The schema of what the Rust side accepts (for arguments: what a caller must send).
    pub fn accepts(&self) -> &Value {
        self.deserialize.as_ref().unwrap_or(&self.schema)
    }
}

/// A method's typed error: the JSON in the RPC error's `data`, and its codes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorContract {
    /// The schema of `data`.
    pub data: TypeSchema,
    /// The RPC error codes the typed error uses: 1500 (APPLICATION_ERROR) unless the type
    /// implements [`crate::ErrorCode`]; `None` when it does without listing
    /// [`crate::ErrorCode::CODES`].
    pub codes: Option<Vec<u32>>,
}

impl ServiceContract {
    /// The contract document: [`FORMAT`], a content hash and the contract itself.
    pub fn to_json(&self) -> Value {
        let mut doc = serde_json::Map::new();
        doc.insert("format".into(), FORMAT.into());
        doc.insert("hash".into(), self.hash().into());
        if let Ok(Value::Object(fields)) = serde_json::to_value(self) {
            doc.extend(fields);
        }
        Value::Object(doc)
    }

    /// `sha256:<hex>` of the contract's canonical JSON: equal contracts, equal hashes, on
    /// every machine and in every release that keeps [`FORMAT`].
    pub fn hash(&self) -> String {
        use sha2::Digest;
        let canonical = canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null));
        let digest = sha2::Sha256::digest(format!("{FORMAT}\n{canonical}").as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// The file stem of this service's files: the trait name in snake_case (`GeoIndex` ->
    /// `geo_index`).
    pub fn stem(&self) -> String {
        snake_case(&self.service)
    }
}

/// JSON with object keys sorted at every level, whatever serde_json's map order.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let after_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_numeric());
            let before_lower = i > 0 && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if (after_lower || (before_lower && chars[i - 1].is_uppercase())) && !out.ends_with('_')
            {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Why the files of a contract could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// Two methods would get the same tool name, or a name OpenAI cannot take.
    #[error("{0}")]
    ToolName(String),
    /// Two services would write the same files.
    #[error("services {0:?} and {1:?} both write {2}.*: export them to different directories")]
    SameStem(String, String, String),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
}

/// The files of one service, by file name: `<stem>.contract.json`, `<stem>.ts`,
/// `<stem>_rpc.py`, `<stem>.openai-tools.json` and `<stem>.mcp-tools.json`.
pub fn render_files(contract: &ServiceContract) -> Result<Vec<(String, String)>, ContractError> {
    let stem = contract.stem();
    let json = |v: &Value| {
        let mut text = serde_json::to_string_pretty(v).unwrap_or_default();
        text.push('\n');
        text
    };
    let openai = serde_json::json!({
        "tools": openai_tools(contract)?,
        "strict_tools": openai_tools_strict(contract)?,
    });
    Ok(vec![
        (format!("{stem}.contract.json"), json(&contract.to_json())),
        (format!("{stem}.ts"), typescript(contract)),
        (format!("{stem}_rpc.py"), python(contract)?),
        (format!("{stem}.openai-tools.json"), json(&openai)),
        (
            format!("{stem}.mcp-tools.json"),
            json(&mcp_tools(contract)?),
        ),
    ])
}

/// Writes every service's files into `dir` (created if missing) and returns their paths.
/// Tool names that collide or that OpenAI cannot take are refused before anything is
/// written.
pub fn write_all(
    dir: impl AsRef<Path>,
    contracts: &[ServiceContract],
) -> Result<Vec<PathBuf>, ContractError> {
    let dir = dir.as_ref();
    let mut rendered = Vec::new();
    for (i, c) in contracts.iter().enumerate() {
        if let Some(other) = contracts[..i].iter().find(|o| o.stem() == c.stem()) {
            return Err(ContractError::SameStem(
                other.service.clone(),
                c.service.clone(),
                c.stem(),
            ));
        }
        rendered.extend(render_files(c)?);
    }
    std::fs::create_dir_all(dir).map_err(|source| ContractError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, text) in rendered {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| ContractError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_snake_case() {
        assert_eq!(snake_case("Geo"), "geo");
        assert_eq!(snake_case("GeoIndex"), "geo_index");
        assert_eq!(snake_case("HTTPProxy"), "http_proxy");
        assert_eq!(snake_case("Robot2Arm"), "robot2_arm");
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"f": 2, "e": 3}], "c": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[1,{"e":3,"f":2}]},"b":1}"#
        );
    }
}
