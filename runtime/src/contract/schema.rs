//! Builds a contract's parts from Rust types (called by generated code): schemars writes
//! the schemas, so serde attributes on the types and on the parameters apply.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Value};

use super::{ErrorContract, MethodContract, ParamContract, StreamContract, TypeSchema};

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

fn root_schema<T: JsonSchema>(serialize: bool) -> Value {
    let settings = SchemaSettings::draft2020_12();
    let settings = if serialize {
        settings.for_serialize()
    } else {
        settings.for_deserialize()
    };
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// Both shapes of `T`, the second only where it differs.
pub fn type_schema<T: JsonSchema>() -> TypeSchema {
    let schema = root_schema::<T>(true);
    let deserialize = root_schema::<T>(false);
    TypeSchema {
        deserialize: (deserialize != schema).then_some(deserialize),
        schema,
    }
}

fn pascal_case(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// A typed method whose arguments object is `A` (the macro's arguments struct, carrying
/// the parameters' serde attributes and docs).
pub fn method_contract<A: JsonSchema>(
    name: &str,
    wire_name: &str,
    docs: &str,
    params: &[(&str, &str)],
) -> MethodContract {
    let mut args = type_schema::<A>();
    let title = Value::from(format!("{}Args", pascal_case(name)));
    for schema in std::iter::once(&mut args.schema).chain(args.deserialize.as_mut()) {
        if let Some(map) = schema.as_object_mut() {
            map.insert("title".into(), title.clone());
            // A method without parameters: say so, rather than "any object".
            if params.is_empty() && !map.contains_key("properties") {
                map.insert("properties".into(), json!({}));
            }
        }
    }
    let required: Vec<&str> = args
        .accepts()
        .get("required")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let params = params
        .iter()
        .map(|(key, docs)| ParamContract {
            name: (*key).to_owned(),
            docs: (*docs).to_owned(),
            required: required.contains(key),
        })
        .collect();
    MethodContract {
        name: name.to_owned(),
        wire_name: wire_name.to_owned(),
        docs: docs.to_owned(),
        raw: false,
        params,
        args,
        result: None,
        error: None,
        stream: None,
        cancellable: false,
    }
}

/// A `#[rpc(raw)]` method: its payload is any string (empty when it has no parameter).
pub fn raw_method_contract(
    name: &str,
    wire_name: &str,
    docs: &str,
    param: Option<(&str, &str)>,
) -> MethodContract {
    let schema = match param {
        Some(_) => json!({
            "$schema": DRAFT_2020_12,
            "title": format!("{}Payload", pascal_case(name)),
            "description": "The raw payload: any string, passed to the handler untouched (not JSON).",
            "type": "string",
        }),
        None => json!({
            "$schema": DRAFT_2020_12,
            "title": format!("{}Payload", pascal_case(name)),
            "description": "No payload: the empty string.",
            "const": "",
        }),
    };
    MethodContract {
        name: name.to_owned(),
        wire_name: wire_name.to_owned(),
        docs: docs.to_owned(),
        raw: true,
        params: param
            .map(|(key, docs)| ParamContract {
                name: key.to_owned(),
                docs: docs.to_owned(),
                required: true,
            })
            .into_iter()
            .collect(),
        args: TypeSchema {
            schema,
            deserialize: None,
        },
        result: None,
        error: None,
        stream: None,
        cancellable: false,
    }
}

/// The result of a raw method: the handler's string, untouched.
pub fn raw_result() -> TypeSchema {
    TypeSchema {
        schema: json!({
            "$schema": DRAFT_2020_12,
            "description": "The raw result: the handler's string, untouched (not JSON).",
            "type": "string",
        }),
        deserialize: None,
    }
}

/// A typed error `E` and the codes it travels with.
pub fn error_contract<E: JsonSchema>(codes: Option<Vec<u32>>) -> ErrorContract {
    ErrorContract {
        data: type_schema::<E>(),
        codes,
    }
}

/// What a streaming method's stream carries (used by generated code).
pub fn stream_contract<T: JsonSchema>(error: Option<ErrorContract>) -> StreamContract {
    StreamContract {
        item: type_schema::<T>(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::pascal_case;

    #[test]
    fn pascal_case_of_method_names() {
        assert_eq!(pascal_case("move_arm"), "MoveArm");
        assert_eq!(pascal_case("ping"), "Ping");
        assert_eq!(pascal_case("a__b"), "AB");
    }
}
