//! Renders a contract as a TypeScript module for `livekit-client` users: the named types
//! of arguments, results and errors (from the JSON Schemas), a typed client over
//! `room.localParticipant` and typed handlers registered on `room`.

use std::fmt::Write as _;

use serde_json::Value;

use super::naming::{camel_case, collect_roots, roots_by_method, MethodTypes, Names, Root};
use super::{MethodContract, ServiceContract};

const HEADER_NOTES: &str = "\
// Numbers: Rust integers travel as JSON numbers. JavaScript numbers are exact only up to
// 2^53 - 1 (Number.MAX_SAFE_INTEGER), so 64-bit fields (marked in their docs) lose
// precision above it; keep such values below it or send them as strings on the Rust side.
// Bytes: a Rust Vec<u8> travels as a JSON array of numbers 0-255 (number[] here); for
// large binary data prefer a base64 String or a data stream.";

/// The module's own helpers: the same for every service, kept in each module so that one
/// generated file is all a frontend needs.
const SUPPORT: &str = r#"/** What calls go through: `room.localParticipant` of livekit-client satisfies it. */
export interface RpcCaller {
  performRpc(params: {
    destinationIdentity: string;
    method: string;
    payload: string;
    responseTimeout?: number;
  }): PromiseLike<string>;
}

/** The call a handler serves, as livekit-client passes it (`RpcInvocationData`). */
export interface RpcInvocation {
  requestId: string;
  callerIdentity: string;
  payload: string;
  responseTimeout: number;
}

/** Where handlers are registered: `room` of livekit-client satisfies it. */
export interface RpcRegistrar {
  registerRpcMethod(method: string, handler: (data: RpcInvocation) => Promise<string>): void;
  unregisterRpcMethod(method: string): void;
}

/** Options of a client. */
export interface CallOptions {
  /** How long to wait for the response, in milliseconds (livekit-client's default: 15 000). */
  responseTimeout?: number;
}

/** LiveKit's APPLICATION_ERROR code, the default code of a typed error. */
export const APPLICATION_ERROR = 1500;

/** Codes LiveKit reserves for its own errors (APPLICATION_ERROR excepted). */
function isReservedCode(code: number): boolean {
  return code >= 1001 && code <= 1999 && code !== APPLICATION_ERROR;
}

/**
 * A failed call. `appError` is the method's typed error, decoded from `data`, when the
 * handler returned one; otherwise the failure is LiveKit's (timeouts, unknown method,
 * the destination leaving, ...) and `code` and `message` say which.
 */
export class RpcCallError<E = never> extends Error {
  constructor(
    /** The wire name of the method called. */
    readonly method: string,
    /** The RPC error code. */
    readonly code: number,
    message: string,
    /** The error's `data`, as sent. */
    readonly data: string | undefined,
    /** The typed error, when `data` carries one. */
    readonly appError: E | undefined,
  ) {
    super(message);
    this.name = 'RpcCallError';
  }
}

/**
 * Throw it from a handler to answer with the method's typed error: a Rust caller gets
 * `CallError::Application(value)`, a TypeScript caller an `RpcCallError` whose
 * `appError` is `value`.
 */
export class ApplicationError<E> extends Error {
  /** The RPC error code (default APPLICATION_ERROR, 1500; LiveKit reserves 1001-1999). */
  readonly code: number;

  constructor(
    /** The typed error value, sent as JSON in the error's `data`. */
    readonly value: E,
    options: { code?: number; message?: string } = {},
  ) {
    super(options.message ?? 'Application error in method handler');
    this.name = 'ApplicationError';
    this.code = options.code ?? APPLICATION_ERROR;
  }
}

function toCallError<E>(method: string, error: unknown, typed: boolean): RpcCallError<E> {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
    data?: unknown;
  };
  const code = typeof e.code === 'number' ? e.code : APPLICATION_ERROR;
  const message = typeof e.message === 'string' ? e.message : String(error);
  const data = typeof e.data === 'string' ? e.data : undefined;
  let appError: E | undefined;
  if (typed && data !== undefined && !isReservedCode(code)) {
    try {
      appError = JSON.parse(data) as E;
    } catch {
      // Not the typed error: a plain RPC error with text in `data`.
    }
  }
  return new RpcCallError<E>(method, code, message, data, appError);
}

async function callMethod<E>(
  caller: RpcCaller,
  destinationIdentity: string,
  method: string,
  payload: string,
  options: CallOptions,
  typed: boolean,
): Promise<string> {
  try {
    return await caller.performRpc({
      destinationIdentity,
      method,
      payload,
      responseTimeout: options.responseTimeout,
    });
  } catch (error) {
    throw toCallError<E>(method, error, typed);
  }
}

function decodeResult<T>(method: string, payload: string): T {
  try {
    return JSON.parse(payload) as T;
  } catch (error) {
    throw new RpcCallError<never>(
      method,
      APPLICATION_ERROR,
      `the response of "${method}" is not JSON: ${String(error)}`,
      undefined,
      undefined,
    );
  }
}

function decodeUnit(method: string, payload: string): void {
  const text = payload.trim();
  if (text !== '' && text !== 'null') {
    throw new RpcCallError<never>(
      method,
      APPLICATION_ERROR,
      `the response of "${method}" should be empty, got ${text.length} characters`,
      undefined,
      undefined,
    );
  }
}

function invalidArguments(method: string, why: string): RpcError {
  return new RpcError(APPLICATION_ERROR, 'Application error in method handler', `invalid arguments for "${method}": ${why}`);
}

/**
 * What a handler checks of one parameter before it runs, as the Rust side does: its key,
 * whether it must be there, the JSON types it may have (`null`: any) and an integer's range.
 */
type ParamCheck = [key: string, required: boolean, types: string[] | null, min?: number | null, max?: number];

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function decodeArgs(method: string, payload: string, checks: ParamCheck[]): unknown {
  const text = payload.trim() === '' ? '{}' : payload;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidArguments(method, 'not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const keys = checks.map(([key]) => JSON.stringify(key)).join(', ');
    const expected = keys === '' ? 'an empty payload or {}' : `a JSON object with keys ${keys}`;
    throw invalidArguments(method, `expected ${expected}, got ${jsonType(value)}`);
  }
  const args = value as Record<string, unknown>;
  for (const [key, required, types, min, max] of checks) {
    const arg = args[key];
    if (arg === undefined) {
      if (required) throw invalidArguments(method, `parameter \`${key}\`: missing`);
      continue;
    }
    if (types === null) continue;
    const type = jsonType(arg);
    if (!types.includes(type) && !(type === 'integer' && types.includes('number'))) {
      throw invalidArguments(method, `parameter \`${key}\`: expected ${types.join(' or ')}, got ${type}`);
    }
    if (typeof arg === 'number' && ((min != null && arg < min) || (max !== undefined && arg > max))) {
      throw invalidArguments(method, `parameter \`${key}\`: ${arg} is out of range ${min ?? ''}..=${max ?? ''}`);
    }
  }
  return args;
}

/** Runs a handler; a thrown ApplicationError becomes the RpcError LiveKit sends. */
async function answer(run: () => Promise<string>): Promise<string> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ApplicationError) {
      throw new RpcError(error.code, error.message, JSON.stringify(error.value));
    }
    throw error;
  }
}

function encodeResult(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}
"#;

/// The `typed_rpc` wire for modules whose service streams or cancels: the same for every
/// such service, kept in each module for the same reason as [`SUPPORT`].
const STREAMING_SUPPORT: &str = include_str!("typescript_streaming.ts");

/// Whether the service has streaming or cancellable methods, which need the room.
fn needs_room(contract: &ServiceContract) -> bool {
    contract
        .methods
        .iter()
        .any(|m| m.stream.is_some() || m.cancellable)
}

/// The TypeScript module for `contract`.
pub fn typescript(contract: &ServiceContract) -> String {
    let mut names = Names::new(ts_identifier);
    let roots = collect_roots(contract, &mut names);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by livekit-typed-rpc from the Rust trait `{}`. Do not edit: re-run the\n\
         // contract export (`livekit_typed_rpc::contract::write_all`).\n\
         // Contract: {}\n//\n{HEADER_NOTES}\n",
        contract.service,
        contract.hash()
    );
    out.push_str("import { RpcError } from 'livekit-client';\n\n");
    out.push_str(SUPPORT);
    if needs_room(contract) {
        out.push('\n');
        out.push_str(STREAMING_SUPPORT);
    }

    out.push_str("\n// --- Types\n");
    for named in &names.types {
        out.push('\n');
        let ctx = &roots[named.root];
        let mut notes = Vec::new();
        if let Some(d) = named.schema.get("description").and_then(Value::as_str) {
            notes.push(d.to_owned());
        }
        if is_wide_integer(&named.schema) {
            notes.push(WIDE_INTEGER_NOTE.to_owned());
        }
        out.push_str(&jsdoc(&notes.join("\n\n"), ""));
        let _ = writeln!(
            out,
            "export type {} = {};",
            named.name,
            render(&named.schema, ctx, &names, 0)
        );
    }

    let service = &contract.service;
    out.push_str("\n// --- Client and handlers\n\n");
    let _ = writeln!(
        out,
        "/** Typed calls of `{service}`'s methods on one participant. */"
    );
    let _ = writeln!(out, "export interface {service}Client {{");
    for (m, t) in contract.methods.iter().zip(&roots_by_method(&roots)) {
        let mut doc = m.docs.clone();
        let errors = match &t.error {
            Some(e) => format!(
                "Rejects with an `RpcCallError<{e}>`: `appError` is set when the handler returned its typed error."
            ),
            None => "Rejects with an `RpcCallError` (LiveKit's errors: timeouts, unknown method, ...).".to_owned(),
        };
        if !doc.is_empty() {
            doc.push_str("\n\n");
        }
        if m.stream.is_some() {
            let item_errors = match &t.item_error {
                Some(e) => format!(" Iterating it throws an `RpcCallError<{e}>` when the stream ends with its typed error."),
                None => String::new(),
            };
            let _ = write!(
                doc,
                "Opens the stream `{}`: its items come through the returned `CallStream`; leaving a `for await` loop early cancels it. {errors}{item_errors}",
                m.wire_name
            );
        } else {
            let _ = write!(doc, "Calls `{}`. {errors}", m.wire_name);
            if m.cancellable {
                doc.push_str(" Aborting `options.signal` cancels the handler at the server.");
            }
        }
        out.push_str(&jsdoc(&doc, "  "));
        let _ = writeln!(
            out,
            "  {}({}{}): Promise<{}>;",
            camel_case(&m.name),
            client_params(m, t),
            client_options(m, t),
            client_result(t),
        );
    }
    out.push_str("}\n\n");

    let _ = writeln!(
        out,
        "/** Handlers of `{service}`'s methods: throw an `ApplicationError` to answer with a typed error. */"
    );
    let _ = writeln!(out, "export interface {service}Handlers {{");
    for (m, t) in contract.methods.iter().zip(&roots_by_method(&roots)) {
        let mut doc = m.docs.clone();
        if m.stream.is_some() {
            if !doc.is_empty() {
                doc.push_str("\n\n");
            }
            doc.push_str("Returns the items to stream (an async generator, say); `invocation.signal` aborts when the caller cancels, leaves or the deadline passes. Throw an `ApplicationError` from the handler itself to refuse the call (a generator's body only runs once iterated), or from the iteration to end the stream with a typed error.");
        } else if m.cancellable {
            if !doc.is_empty() {
                doc.push_str("\n\n");
            }
            doc.push_str("`invocation.signal` aborts when the caller cancels or leaves; a result after that is not sent.");
        }
        out.push_str(&jsdoc(&doc, "  "));
        let (invocation, result) = match (&m.stream, &t.item) {
            (Some(_), item) => (
                "CancellableInvocation",
                format!("AsyncIterable<{}>", item.as_deref().unwrap_or("unknown")),
            ),
            (None, _) if m.cancellable => (
                "CancellableInvocation",
                t.result.as_deref().unwrap_or("void").to_owned(),
            ),
            (None, _) => (
                "RpcInvocation",
                t.result.as_deref().unwrap_or("void").to_owned(),
            ),
        };
        let _ = writeln!(
            out,
            "  {}({}invocation: {invocation}): {result} | Promise<{result}>;",
            camel_case(&m.name),
            handler_params(m, t),
        );
    }
    out.push_str("}\n\n");

    out.push_str(&service_object(contract, &roots_by_method(&roots)));
    out
}

const WIDE_INTEGER_NOTE: &str =
    "64-bit integer: exact in JavaScript only up to 2^53 - 1 (Number.MAX_SAFE_INTEGER).";

fn ts_identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The arguments type of a method (one without arguments takes the empty object).
fn args_type(t: &MethodTypes) -> &str {
    t.args.as_deref().unwrap_or("Record<string, never>")
}

fn has_wire_params(m: &MethodContract) -> bool {
    !m.params.is_empty()
}

fn client_params(m: &MethodContract, t: &MethodTypes) -> String {
    match (m.raw, has_wire_params(m)) {
        (true, true) => "payload: string".into(),
        (true, false) => String::new(),
        (false, true) => format!("args: {}", args_type(t)),
        (false, false) => format!("args?: {}", args_type(t)),
    }
}

/// The trailing options parameter of a client method.
fn client_options(m: &MethodContract, t: &MethodTypes) -> String {
    let kind = if m.stream.is_some() {
        "StreamOptions"
    } else if m.cancellable {
        "CancellableCallOptions"
    } else {
        return String::new();
    };
    let comma = if client_params(m, t).is_empty() {
        ""
    } else {
        ", "
    };
    format!("{comma}callOptions?: {kind}")
}

/// What a client method resolves to.
fn client_result(t: &MethodTypes) -> String {
    match &t.item {
        Some(item) => format!(
            "CallStream<{item}, {}>",
            t.item_error.as_deref().unwrap_or("never")
        ),
        None => t.result.as_deref().unwrap_or("void").to_owned(),
    }
}

fn handler_params(m: &MethodContract, t: &MethodTypes) -> String {
    match (m.raw, has_wire_params(m)) {
        (true, true) => "payload: string, ".into(),
        (true, false) => String::new(),
        (false, _) => format!("args: {}, ", args_type(t)),
    }
}

fn js_string(s: &str) -> String {
    Value::from(s).to_string()
}

fn service_object(contract: &ServiceContract, types: &[MethodTypes]) -> String {
    let service = &contract.service;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/** `{service}`: its wire names, a typed client and typed handlers. */"
    );
    let _ = writeln!(out, "export const {service} = {{");
    let _ = writeln!(out, "  service: {},", js_string(service));
    let namespace = contract
        .namespace
        .as_deref()
        .map(js_string)
        .unwrap_or_else(|| "null".into());
    let _ = writeln!(out, "  namespace: {namespace} as string | null,");
    let _ = writeln!(out, "  contractHash: {},", js_string(&contract.hash()));
    out.push_str("  /** Wire names, by method. */\n  methods: {\n");
    for m in &contract.methods {
        let _ = writeln!(
            out,
            "    {}: {},",
            camel_case(&m.name),
            js_string(&m.wire_name)
        );
    }
    out.push_str("  } as const,\n\n");

    out.push_str(
        "  /** A client calling `destinationIdentity` through `caller` (`room.localParticipant`). */\n",
    );
    let room = needs_room(contract);
    let target = if room {
        "caller: RpcCaller | StreamingRoom"
    } else {
        "caller: RpcCaller"
    };
    let _ = writeln!(
        out,
        "  client({target}, destinationIdentity: string, options: CallOptions = {{}}): {service}Client {{"
    );
    if room {
        out.push_str(
            "    const rpc: RpcCaller = isRoom(caller) ? caller.localParticipant : caller;\n",
        );
    } else {
        out.push_str("    const rpc: RpcCaller = caller;\n");
    }
    out.push_str("    return {\n");
    for (m, t) in contract.methods.iter().zip(types) {
        let wire = js_string(&m.wire_name);
        let typed = t.error.is_some();
        let error_ty = t.error.as_deref().unwrap_or("never");
        let payload = match (m.raw, has_wire_params(m)) {
            (true, true) => "payload".to_owned(),
            (true, false) => "''".to_owned(),
            (false, true) => "JSON.stringify(args)".to_owned(),
            (false, false) => "JSON.stringify(args ?? {})".to_owned(),
        };
        if let Some(item) = &t.item {
            let item_error = t.item_error.as_deref().unwrap_or("never");
            let typed = typed || t.item_error.is_some();
            let _ = writeln!(
                out,
                "      {}: ({}{}) => openStream<{item}, {item_error}>(caller, destinationIdentity, {wire}, {payload}, {{ ...options, ...callOptions }}, {typed}),",
                camel_case(&m.name),
                client_params(m, t),
                client_options(m, t),
            );
            continue;
        }
        let reply = if m.cancellable {
            format!(
                "await callCancellable<{error_ty}>(caller, destinationIdentity, {wire}, {payload}, {{ ...options, ...callOptions }}, {typed})"
            )
        } else {
            format!(
                "await callMethod<{error_ty}>(rpc, destinationIdentity, {wire}, {payload}, options, {typed})"
            )
        };
        let body = match (&t.result, m.raw) {
            (None, _) => format!("decodeUnit({wire}, {reply})"),
            (Some(_), true) => reply,
            (Some(r), false) => format!("decodeResult<{r}>({wire}, {reply})"),
        };
        let _ = writeln!(
            out,
            "      {}: async ({}{}) => {body},",
            camel_case(&m.name),
            client_params(m, t),
            client_options(m, t),
        );
    }
    out.push_str("    };\n  },\n\n");

    out.push_str(
        "  /**\n   * Registers `handlers` on `registrar` (`room`); returns a function that unregisters them.\n   * Registration is all or nothing: if one method is already registered, none stays.\n   */\n",
    );
    let registrar = if room {
        "StreamingRoom"
    } else {
        "RpcRegistrar"
    };
    let _ = writeln!(
        out,
        "  serve(registrar: {registrar}, handlers: {service}Handlers): () => void {{"
    );
    out.push_str("    const registered: string[] = [];\n");
    out.push_str("    try {\n");
    for (m, t) in contract.methods.iter().zip(types) {
        let wire = js_string(&m.wire_name);
        let name = camel_case(&m.name);
        let invocation = if m.stream.is_some() || m.cancellable {
            "invocation"
        } else {
            "data"
        };
        let call = match (m.raw, has_wire_params(m)) {
            (true, true) => format!("handlers.{name}(data.payload, {invocation})"),
            (true, false) => format!("handlers.{name}({invocation})"),
            (false, _) => format!(
                "handlers.{name}(decodeArgs({wire}, data.payload, {}) as {}, {invocation})",
                param_checks(m),
                args_type(t)
            ),
        };
        let encode = match (&t.result, m.raw) {
            (None, _) => format!("{{ await {call}; return ''; }}"),
            (Some(_), true) => format!("String(await {call})"),
            (Some(_), false) => format!("encodeResult(await {call})"),
        };
        let run = if m.stream.is_some() {
            format!("() => serveStream(registrar, {wire}, data, (invocation) => {call})")
        } else if m.cancellable {
            format!(
                "() => serveCancellable(registrar, {wire}, data, async (invocation) => {encode})"
            )
        } else {
            format!("async () => {encode}")
        };
        let _ = writeln!(
            out,
            "      registrar.registerRpcMethod({wire}, (data) => answer({run}));"
        );
        let _ = writeln!(out, "      registered.push({wire});");
    }
    out.push_str(
        "    } catch (error) {\n      for (const method of registered) registrar.unregisterRpcMethod(method);\n      throw error;\n    }\n",
    );
    out.push_str(
        "    return () => {\n      for (const method of registered.splice(0)) registrar.unregisterRpcMethod(method);\n    };\n  },\n};\n",
    );
    out
}

/// The `ParamCheck` list of a method's handler: per parameter its key, whether it is
/// required, its JSON types where the schema gives them (a `$ref` or a union is left to
/// the handler) and an integer's bounds.
fn param_checks(m: &MethodContract) -> String {
    let schema = m.args.accepts();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return "[]".into();
    };
    let checks: Vec<Value> = m
        .params
        .iter()
        .filter_map(|p| properties.get(&p.name).map(|s| (p.name.as_str(), s)))
        .map(|(key, property)| {
            let types = match property.get("type") {
                Some(Value::String(t)) => Value::from(vec![t.clone()]),
                Some(Value::Array(ts)) => Value::Array(ts.clone()),
                _ => Value::Null,
            };
            let mut check = vec![
                Value::from(key),
                Value::from(required.contains(&key)),
                types,
            ];
            let integer = property.get("type").is_some_and(|t| {
                t == "integer"
                    || t.as_array()
                        .is_some_and(|ts| ts.iter().any(|t| t == "integer"))
            });
            if integer {
                let bound = |k: &str| property.get(k).filter(|v| v.is_number()).cloned();
                match (bound("minimum"), bound("maximum")) {
                    (None, None) => {}
                    (min, max) => {
                        check.push(min.unwrap_or(Value::Null));
                        if let Some(max) = max {
                            check.push(max);
                        }
                    }
                }
            }
            Value::Array(check)
        })
        .collect();
    Value::Array(checks).to_string()
}

fn jsdoc(text: &str, indent: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let text = text.replace("*/", "*\\/");
    let mut out = format!("{indent}/**\n");
    for line in text.lines() {
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {line}");
        }
    }
    let _ = writeln!(out, "{indent} */");
    out
}

fn is_wide_integer(schema: &Value) -> bool {
    let integer = match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    };
    let wide = matches!(
        schema.get("format").and_then(Value::as_str),
        Some("int64" | "uint64" | "int128" | "uint128" | "int" | "uint")
    );
    integer && wide
}

fn property_key(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        key.to_owned()
    } else {
        js_string(key)
    }
}

/// A TypeScript type for `schema`, whose `$ref`s are resolved in `root`.
fn render(schema: &Value, root: &Root, names: &Names, depth: usize) -> String {
    let map = match schema {
        Value::Bool(true) => return "unknown".into(),
        Value::Bool(false) => return "never".into(),
        Value::Object(map) => map,
        _ => return "unknown".into(),
    };
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        if r == "#" {
            return root.name.clone();
        }
        if let Some(def) = r.strip_prefix("#/$defs/") {
            if let Some(name) = root.defs.get(def) {
                return name.clone();
            }
        }
        return "unknown".into();
    }
    if let Some(c) = map.get("const") {
        return literal(c);
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        let parts: Vec<String> = values.iter().map(literal).collect();
        return union(parts);
    }
    let mut parts: Vec<String> = Vec::new();
    let base = base_type(map, root, names, depth);
    if let Some(base) = base {
        parts.push(base);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(options)) = map.get(key) {
            let options: Vec<String> = options
                .iter()
                .map(|o| render(o, root, names, depth))
                .collect();
            parts.push(format!("({})", union(options)));
        }
    }
    if let Some(Value::Array(all)) = map.get("allOf") {
        for s in all {
            parts.push(render(s, root, names, depth));
        }
    }
    match parts.len() {
        0 => "unknown".into(),
        1 => parts.remove(0),
        _ => parts.join(" & "),
    }
}

fn literal(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => "unknown".into(),
        other => other.to_string(),
    }
}

fn union(mut parts: Vec<String>) -> String {
    parts.dedup();
    if parts.is_empty() {
        "never".into()
    } else {
        parts.join(" | ")
    }
}

/// The part of a schema given by `type` (and `properties`, `items`).
fn base_type(
    map: &serde_json::Map<String, Value>,
    root: &Root,
    names: &Names,
    depth: usize,
) -> Option<String> {
    let types: Vec<&str> = match map.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if map.contains_key("properties") => vec!["object"],
        _ => return None,
    };
    let rendered: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "null" => "null".into(),
            "boolean" => "boolean".into(),
            "string" => "string".into(),
            "integer" | "number" => "number".into(),
            "array" => array_type(map, root, names, depth),
            "object" => object_type(map, root, names, depth),
            _ => "unknown".into(),
        })
        .collect();
    Some(if rendered.len() == 1 {
        rendered.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", union(rendered))
    })
}

fn array_type(
    map: &serde_json::Map<String, Value>,
    root: &Root,
    names: &Names,
    depth: usize,
) -> String {
    if let Some(Value::Array(prefix)) = map.get("prefixItems") {
        let items: Vec<String> = prefix
            .iter()
            .map(|s| render(s, root, names, depth))
            .collect();
        return format!("[{}]", items.join(", "));
    }
    match map.get("items") {
        Some(items) => {
            let item = render(items, root, names, depth);
            if item.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                format!("{item}[]")
            } else {
                format!("Array<{item}>")
            }
        }
        None => "unknown[]".into(),
    }
}

fn object_type(
    map: &serde_json::Map<String, Value>,
    root: &Root,
    names: &Names,
    depth: usize,
) -> String {
    let required: Vec<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let extra = map.get("additionalProperties");
    let properties = map.get("properties").and_then(Value::as_object);
    let indent = "  ".repeat(depth + 1);
    let close = "  ".repeat(depth);
    match properties {
        Some(properties) if !properties.is_empty() => {
            let mut out = String::from("{\n");
            for (key, schema) in properties {
                let mut notes = Vec::new();
                if let Some(d) = schema.get("description").and_then(Value::as_str) {
                    notes.push(d.to_owned());
                }
                if is_wide_integer(schema) {
                    notes.push(WIDE_INTEGER_NOTE.to_owned());
                }
                out.push_str(&jsdoc(&notes.join("\n\n"), &indent));
                let optional = if required.contains(&key.as_str()) {
                    ""
                } else {
                    "?"
                };
                let _ = writeln!(
                    out,
                    "{indent}{}{optional}: {};",
                    property_key(key),
                    render(schema, root, names, depth + 1)
                );
            }
            out.push_str(&close);
            out.push('}');
            out
        }
        _ => match extra {
            Some(Value::Bool(false)) => "Record<string, never>".into(),
            Some(schema @ Value::Object(_)) => {
                format!(
                    "{{ [key: string]: {} }}",
                    render(schema, root, names, depth + 1)
                )
            }
            _ if properties.is_some() => "Record<string, never>".into(),
            _ => "{ [key: string]: unknown }".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::naming::pascal;

    #[test]
    fn names_are_typescript_names() {
        assert_eq!(camel_case("move_arm"), "moveArm");
        assert_eq!(pascal("move_arm"), "MoveArm");
        assert_eq!(ts_identifier("Wrapper<u32>"), "Wrapper_u32_");
        assert_eq!(property_key("jointId"), "jointId");
        assert_eq!(property_key("joint-id"), "\"joint-id\"");
    }
}
