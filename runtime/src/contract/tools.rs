//! A contract as LLM tools: one tool per method, for OpenAI function calling (plain and
//! strict) and for MCP. An agent that receives a tool call sends its arguments object as
//! the RPC payload to the method the tool names (for a raw method: the `payload` string).

use serde_json::{json, Map, Value};

use super::{ContractError, MethodContract, ServiceContract};

/// OpenAI's rule for function names.
fn valid_openai_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The tool name of a wire name: `.` becomes `_` (`geo.locate` -> `geo_locate`); anything
/// else OpenAI's `^[a-zA-Z0-9_-]{1,64}$` refuses is an error naming the method.
pub fn openai_tool_name(wire_name: &str) -> Result<String, ContractError> {
    let name = wire_name.replace('.', "_");
    if valid_openai_name(&name) {
        Ok(name)
    } else {
        Err(ContractError::ToolName(format!(
            "method {wire_name:?} cannot be a tool: {name:?} does not match ^[a-zA-Z0-9_-]{{1,64}}$; \
             give it a shorter or plainer wire name with #[rpc(name = \"...\")]"
        )))
    }
}

/// The methods that are tools, each with its name, refusing collisions (`a.b_c` and
/// `a_b.c` are both `a_b_c`). Streaming methods are not tools: a tool call returns one
/// result, and a stream's items would be lost or held until it ends.
fn tool_names(contract: &ServiceContract) -> Result<Vec<(&MethodContract, String)>, ContractError> {
    let mut tools: Vec<(&MethodContract, String)> = Vec::with_capacity(contract.methods.len());
    for m in contract.methods.iter().filter(|m| m.stream.is_none()) {
        let name = openai_tool_name(&m.wire_name)?;
        if let Some((other, _)) = tools.iter().find(|(_, n)| *n == name) {
            return Err(ContractError::ToolName(format!(
                "methods {:?} and {:?} would both be the tool {name:?}; rename one with #[rpc(name = \"...\")]",
                other.wire_name, m.wire_name
            )));
        }
        tools.push((m, name));
    }
    Ok(tools)
}

fn description(m: &MethodContract) -> String {
    let mut text = m.docs.trim().to_owned();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&format!("(LiveKit RPC method `{}`.)", m.wire_name));
    text
}

/// The arguments object a tool call carries: the method's arguments schema, or for a raw
/// method an object with the payload string under `payload`.
fn input_schema(m: &MethodContract) -> Value {
    if m.raw {
        return match m.params.first() {
            Some(p) => json!({
                "type": "object",
                "properties": {
                    "payload": {
                        "type": "string",
                        "description": format!(
                            "{}{}Sent as the RPC payload untouched.",
                            p.docs,
                            if p.docs.is_empty() { "" } else { " " }
                        ),
                    }
                },
                "required": ["payload"],
            }),
            None => json!({ "type": "object", "properties": {} }),
        };
    }
    let mut schema = m.args.accepts().clone();
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
    }
    schema
}

/// OpenAI function tools (`{"type": "function", "function": {..}}`), one per method.
pub fn openai_tools(contract: &ServiceContract) -> Result<Value, ContractError> {
    let tools: Vec<Value> = tool_names(contract)?
        .into_iter()
        .map(|(m, name)| {
            json!({
                "type": "function",
                "function": {
                    "name": name,
                    "description": description(m),
                    "parameters": input_schema(m),
                    "strict": false,
                }
            })
        })
        .collect();
    Ok(Value::Array(tools))
}

/// The tools OpenAI's strict mode can take, and the methods it cannot (with why).
///
/// Strict mode wants every object closed (`additionalProperties: false`) with every
/// property required, so optional parameters and fields become required and nullable:
/// the agent must drop keys whose value is `null` where the contract marks them optional
/// before sending (`null` means "left out"). Methods using what strict mode lacks (maps,
/// tuples, `allOf`, open objects) are listed under `omitted`.
pub fn openai_tools_strict(contract: &ServiceContract) -> Result<Value, ContractError> {
    let mut tools = Vec::new();
    let mut omitted: Vec<Value> = contract
        .methods
        .iter()
        .filter(|m| m.stream.is_some())
        .map(|m| json!({ "name": m.wire_name, "reason": "a streaming method: a tool call returns one result" }))
        .collect();
    for (m, name) in tool_names(contract)? {
        match strict(&input_schema(m)) {
            Ok(parameters) => tools.push(json!({
                "type": "function",
                "function": {
                    "name": name,
                    "description": description(m),
                    "parameters": parameters,
                    "strict": true,
                }
            })),
            Err(why) => omitted.push(json!({ "name": name, "reason": why })),
        }
    }
    Ok(json!({ "tools": tools, "omitted": omitted }))
}

/// Keywords strict mode takes; everything else is dropped (annotations) or refused.
const STRICT_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "$ref",
    "$defs",
    "description",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
];

/// String formats strict mode knows; numeric formats like `uint64` are annotations only.
const STRICT_FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Annotations that carry no constraint and may be dropped.
const DROPPABLE: &[&str] = &[
    "title",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
];

fn allows_null(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "null"),
        _ => ["anyOf", "oneOf"].iter().any(|k| {
            schema
                .get(k)
                .and_then(Value::as_array)
                .is_some_and(|options| options.iter().any(allows_null))
        }),
    }
}

/// The strict-mode form of `schema`, or why there is none.
fn strict(schema: &Value) -> Result<Value, String> {
    let Value::Object(map) = schema else {
        return match schema {
            Value::Bool(true) => Err("a parameter takes any JSON value".into()),
            _ => Err("a parameter takes no value".into()),
        };
    };
    let mut out = Map::new();
    for (key, value) in map {
        let key = key.as_str();
        match key {
            "oneOf" => {
                out.insert("anyOf".into(), strict_list(value)?);
            }
            "anyOf" => {
                out.insert(key.into(), strict_list(value)?);
            }
            "format" => {
                if value.as_str().is_some_and(|f| STRICT_FORMATS.contains(&f)) {
                    out.insert(key.into(), value.clone());
                }
            }
            "items" => {
                out.insert(key.into(), strict(value)?);
            }
            "$defs" => {
                let mut defs = Map::new();
                for (name, def) in value.as_object().into_iter().flatten() {
                    defs.insert(name.clone(), strict(def)?);
                }
                out.insert(key.into(), Value::Object(defs));
            }
            "properties" | "required" | "additionalProperties" => {}
            _ if STRICT_KEYWORDS.contains(&key) => {
                out.insert(key.into(), value.clone());
            }
            _ if DROPPABLE.contains(&key) => {}
            "prefixItems" => {
                return Err("a tuple (prefixItems) is not supported in strict mode".into())
            }
            "allOf" => {
                return Err(
                    "`allOf` (e.g. a flattened field) is not supported in strict mode".into(),
                )
            }
            other => return Err(format!("`{other}` is not supported in strict mode")),
        }
    }
    let is_object =
        map.get("type") == Some(&Value::from("object")) || map.contains_key("properties");
    if is_object {
        if matches!(map.get("additionalProperties"), Some(Value::Object(_))) {
            return Err(
                "a map (object with arbitrary keys) is not supported in strict mode".into(),
            );
        }
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = map.get("properties").and_then(Value::as_object);
        if properties.is_none() && map.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err("an object with arbitrary keys is not supported in strict mode".into());
        }
        let mut strict_properties = Map::new();
        let mut all = Vec::new();
        for (name, schema) in properties.into_iter().flatten() {
            let mut s = strict(schema)?;
            if !required.contains(&name.as_str()) && !allows_null(&s) {
                let description = s.as_object_mut().and_then(|m| m.remove("description"));
                let mut wrapper = json!({ "anyOf": [s, { "type": "null" }] });
                if let Some(d) = description {
                    wrapper["description"] = d;
                }
                s = wrapper;
            }
            strict_properties.insert(name.clone(), s);
            all.push(Value::from(name.as_str()));
        }
        out.insert("properties".into(), Value::Object(strict_properties));
        out.insert("required".into(), Value::Array(all));
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Ok(Value::Object(out))
}

fn strict_list(value: &Value) -> Result<Value, String> {
    value
        .as_array()
        .map(|options| options.iter().map(strict).collect::<Result<Vec<_>, _>>())
        .transpose()?
        .map(Value::Array)
        .ok_or_else(|| "a malformed anyOf/oneOf".to_owned())
}

/// MCP tools (`{"tools": [..]}`, as `tools/list` returns them), one per method, with an
/// `outputSchema` where the result is a JSON object.
pub fn mcp_tools(contract: &ServiceContract) -> Result<Value, ContractError> {
    let tools: Vec<Value> = tool_names(contract)?
        .into_iter()
        .map(|(m, name)| {
            let mut tool = json!({
                "name": name,
                "title": m.wire_name,
                "description": description(m),
                "inputSchema": input_schema(m),
            });
            let output = m.result.as_ref().map(|r| r.schema.clone());
            if let Some(mut output) =
                output.filter(|o| o.get("type") == Some(&Value::from("object")))
            {
                if let Some(map) = output.as_object_mut() {
                    map.remove("$schema");
                }
                tool["outputSchema"] = output;
            }
            tool
        })
        .collect();
    Ok(json!({ "tools": tools }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_follow_openai_rules() {
        assert_eq!(openai_tool_name("geo.locate").unwrap(), "geo_locate");
        assert!(openai_tool_name("geo/locate").is_err());
        assert!(openai_tool_name(&"x".repeat(65)).is_err());
        assert!(openai_tool_name("").is_err());
    }

    #[test]
    fn strict_mode_closes_objects_and_makes_optional_fields_nullable() {
        let schema = json!({
            "type": "object",
            "title": "Args",
            "properties": {
                "a": { "type": "integer", "format": "uint64", "minimum": 0 },
                "b": { "type": ["string", "null"] },
                "c": { "type": "boolean", "default": false, "description": "flag" }
            },
            "required": ["a"]
        });
        let s = strict(&schema).unwrap();
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["required"], json!(["a", "b", "c"]));
        assert_eq!(
            s["properties"]["a"],
            json!({ "type": "integer", "minimum": 0 })
        );
        assert_eq!(s["properties"]["b"], json!({ "type": ["string", "null"] }));
        assert_eq!(
            s["properties"]["c"],
            json!({ "anyOf": [{ "type": "boolean" }, { "type": "null" }], "description": "flag" })
        );
        assert!(s.get("title").is_none());
    }

    #[test]
    fn strict_mode_refuses_maps_and_tuples() {
        let map = json!({ "type": "object", "additionalProperties": { "type": "integer" } });
        assert!(strict(&map).unwrap_err().contains("map"));
        let tuple = json!({ "type": "array", "prefixItems": [{ "type": "integer" }] });
        assert!(strict(&tuple).unwrap_err().contains("tuple"));
    }
}
