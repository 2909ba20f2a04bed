//! `#[livekit_rpc(contract)]`: the committed contract files are what the code renders,
//! every schema is valid JSON Schema 2020-12 and accepts exactly what serde accepts, the
//! tool files pass the MCP SDK's and OpenAI's rules, the generated TypeScript compiles
//! with `tsc --strict`, and it calls and serves Rust through the real `livekit-client`.

mod support;

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use livekit_typed_rpc::contract::{render_files, ServiceContract};
use livekit_typed_rpc::{
    bridge, livekit_rpc, CallError, ErrorCode, MemoryRoom, PerformRpcData, RpcErrorCode,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::js::{js_dir, prepare_harness, JsPeer};

// ------------------------------------------------------------------ Geo: end to end

/// A city found by [`Geo::locate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    /// Its name.
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// Inhabitants.
    pub population: u64,
    pub alt_names: Vec<String>,
}

/// Why [`Geo::locate`] found nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum GeoError {
    /// No city has that name.
    Unknown { city: String },
    /// Several do.
    Ambiguous { candidates: Vec<String> },
}

impl std::fmt::Display for GeoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeoError::Unknown { city } => write!(f, "no city called {city}"),
            GeoError::Ambiguous { candidates } => write!(f, "{} cities match", candidates.len()),
        }
    }
}

impl ErrorCode for GeoError {
    const CODES: &'static [u32] = &[4040, 4090];

    fn error_code(&self) -> u32 {
        match self {
            GeoError::Unknown { .. } => 4040,
            GeoError::Ambiguous { .. } => 4090,
        }
    }
}

/// Places on the map.
#[livekit_rpc(namespace = "geo", contract)]
pub trait Geo {
    /// Finds a city by name.
    async fn locate(
        &self,
        /// The city's name.
        city: String,
    ) -> Result<Place, GeoError>;
    /// Forgets what was looked up.
    async fn reset(&self);
    /// The UTF-8 length of `text`, in bytes.
    async fn measure(&self, text: String) -> u64;
}

struct Atlas;

impl Geo for Atlas {
    async fn locate(&self, city: String) -> Result<Place, GeoError> {
        match city.as_str() {
            "Atlantis" => Err(GeoError::Unknown { city }),
            "Springfield" => Err(GeoError::Ambiguous {
                candidates: vec!["Springfield, IL".into(), "Springfield, MA".into()],
            }),
            _ => Ok(Place {
                name: city,
                lat: 51.5,
                lon: -0.12,
                population: 9_000_000_000,
                alt_names: vec!["Londinium".into()],
            }),
        }
    }

    async fn reset(&self) {}

    async fn measure(&self, text: String) -> u64 {
        text.len() as u64
    }
}

// ------------------------------------------------------------------ Torture: every serde shape

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub max_speed: u32,
    #[serde(default)]
    pub verbose: bool,
    pub nick_name: Option<String>,
    #[serde(rename = "ID")]
    pub id: u64,
}

/// Internally tagged.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

/// Untagged.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IdOrName {
    Id(u64),
    Name(String),
}

/// Adjacently tagged.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "t", content = "c")]
pub enum Command {
    Stop,
    Go(u32),
}

/// Externally tagged (serde's default).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub enum Plain {
    A,
    B(u8),
    C { x: i64 },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Base {
    pub id: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WithFlatten {
    #[serde(flatten)]
    pub base: Base,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Skippy {
    pub kept: u8,
    #[serde(skip)]
    pub skipped: u8,
}

/// A typed error with its own codes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TortureError {
    Busy { retry_ms: u64 },
    Denied(String),
}

impl ErrorCode for TortureError {
    const CODES: &'static [u32] = &[4100, 4101];

    fn error_code(&self) -> u32 {
        match self {
            TortureError::Busy { .. } => 4100,
            TortureError::Denied(_) => 4101,
        }
    }
}

/// Every serde shape a contract must describe exactly.
#[livekit_rpc(namespace = "torture", contract)]
pub trait Torture {
    /// Renamed fields and parameters, defaults and options.
    async fn configure(
        &self,
        settings: Settings,
        #[serde(rename = "dryRun")] dry_run: bool,
    ) -> Settings;
    /// Enums in all four representations.
    async fn draw(&self, shape: Shape, id: IdOrName, cmd: Command, plain: Plain) -> Vec<Shape>;
    /// Flattened and skipped fields.
    async fn flat(&self, item: WithFlatten, skippy: Skippy) -> WithFlatten;
    /// Parameters that may be left out.
    async fn optional(
        &self,
        a: Option<u32>,
        #[serde(default)] b: u16,
        c: Option<Vec<u8>>,
    ) -> Option<u64>;
    /// 64-bit integers, bytes and a tuple result.
    async fn big(&self, n: u64, data: Vec<u8>) -> (u64, usize);
    /// No arguments, no result.
    async fn unit(&self);
    /// A typed error with custom codes.
    async fn fallible(&self, fail: bool) -> Result<(), TortureError>;
    /// A raw string in and out.
    #[rpc(raw)]
    async fn raw(&self, payload: String) -> String;
    /// A raw result only.
    #[rpc(raw, name = "torture.rawOut")]
    async fn raw_out(&self) -> String;
}

struct Rack;

impl Torture for Rack {
    async fn configure(&self, settings: Settings, _dry_run: bool) -> Settings {
        settings
    }
    async fn draw(&self, shape: Shape, _id: IdOrName, _cmd: Command, _plain: Plain) -> Vec<Shape> {
        vec![shape, Shape::Square { side: 2.0 }]
    }
    async fn flat(&self, item: WithFlatten, _skippy: Skippy) -> WithFlatten {
        item
    }
    async fn optional(&self, a: Option<u32>, b: u16, c: Option<Vec<u8>>) -> Option<u64> {
        a.map(|a| u64::from(a) + u64::from(b) + c.map_or(0, |c| c.len() as u64))
    }
    async fn big(&self, n: u64, data: Vec<u8>) -> (u64, usize) {
        (n, data.len())
    }
    async fn unit(&self) {}
    async fn fallible(&self, fail: bool) -> Result<(), TortureError> {
        if fail {
            Err(TortureError::Busy { retry_ms: 250 })
        } else {
            Ok(())
        }
    }
    async fn raw(&self, payload: String) -> String {
        payload
    }
    async fn raw_out(&self) -> String {
        "not json".into()
    }
}

fn contracts() -> Vec<ServiceContract> {
    vec![
        quickstart::RobotServer::contract(),
        GeoServer::contract(),
        TortureServer::contract(),
    ]
}

/// Where the committed contract files live (the Robot ones are what
/// `cargo run --example export_contract -- tests/contract` writes).
fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/contract")
}

#[test]
fn committed_contract_files_are_what_the_code_renders() {
    let update = std::env::var_os("UPDATE_CONTRACTS").is_some();
    let mut stale = Vec::new();
    for contract in contracts() {
        for (name, text) in render_files(&contract).unwrap() {
            let path = golden_dir().join(&name);
            if update {
                std::fs::create_dir_all(golden_dir()).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "tests/contract/{{{}}} differ from what the code renders now; if the change is \
         intended, run `UPDATE_CONTRACTS=1 cargo test --test contract committed` and commit them",
        stale.join(",")
    );
}

#[test]
fn contracts_carry_names_docs_order_and_codes() {
    let geo = GeoServer::contract();
    assert_eq!(geo, GeoClient::contract());
    assert_eq!(geo.service, "Geo");
    assert_eq!(geo.namespace.as_deref(), Some("geo"));
    assert_eq!(geo.docs, "Places on the map.");
    let locate = &geo.methods[0];
    assert_eq!(
        (locate.name.as_str(), locate.wire_name.as_str()),
        ("locate", "geo.locate")
    );
    assert_eq!(locate.params[0].name, "city");
    assert_eq!(locate.params[0].docs, "The city's name.");
    assert!(locate.params[0].required);
    let error = locate.error.as_ref().unwrap();
    assert_eq!(error.codes, Some(vec![4040, 4090]));
    assert!(geo.methods[1].result.is_none(), "reset returns ()");

    let torture = TortureServer::contract();
    let configure = &torture.methods[0];
    let keys: Vec<&str> = configure.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        keys,
        ["settings", "dryRun"],
        "declaration order, wire names"
    );
    let optional = &torture.methods[3];
    let required: Vec<bool> = optional.params.iter().map(|p| p.required).collect();
    assert_eq!(
        required,
        [false, false, false],
        "Option and #[serde(default)] may be left out"
    );
    // Settings' `verbose` has a default: required when written, optional when read.
    let settings = &configure.result.as_ref().unwrap();
    assert!(settings.deserialize.is_some(), "both shapes are given");
    assert_eq!(torture.methods[7].wire_name, "torture.raw");
    assert!(torture.methods[7].raw);
    assert_eq!(torture.methods[8].wire_name, "torture.rawOut");
    assert_eq!(
        torture.methods[6].error.as_ref().unwrap().codes,
        Some(vec![4100, 4101])
    );
    // A type implementing ErrorCode without CODES says the codes are not declared; one
    // without ErrorCode uses APPLICATION_ERROR.
    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    struct Undeclared;
    impl ErrorCode for Undeclared {
        fn error_code(&self) -> u32 {
            4200
        }
    }
    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    struct Plain;
    /// Errors with and without declared codes.
    #[livekit_rpc(contract)]
    #[allow(dead_code)]
    trait Codes {
        async fn undeclared(&self) -> Result<(), Undeclared>;
        async fn plain(&self) -> Result<(), Plain>;
    }
    let codes: Vec<_> = CodesServer::contract()
        .methods
        .into_iter()
        .map(|m| m.error.unwrap().codes)
        .collect();
    assert_eq!(
        codes,
        [None, Some(vec![RpcErrorCode::ApplicationError as u32])]
    );

    // The hash is stable and follows the content.
    assert_eq!(torture.hash(), TortureServer::contract().hash());
    assert_ne!(torture.hash(), geo.hash());
    let mut changed = geo.clone();
    changed.methods[0].docs.push('!');
    assert_ne!(changed.hash(), geo.hash());
}

/// One value a schema must accept or reject, as serde did.
struct Case {
    method: &'static str,
    payload: &'static str,
    serde_accepts: bool,
}

const fn case(method: &'static str, payload: &'static str, serde_accepts: bool) -> Case {
    Case {
        method,
        payload,
        serde_accepts,
    }
}

const CASES: &[Case] = &[
    case(
        "configure",
        r#"{"settings":{"maxSpeed":3,"ID":5},"dryRun":true}"#,
        true,
    ),
    case(
        "configure",
        r#"{"settings":{"maxSpeed":3,"ID":5,"nickName":null,"verbose":true},"dryRun":false}"#,
        true,
    ),
    case(
        "configure",
        r#"{"settings":{"maxSpeed":3,"ID":5},"dryRun":true,"extra":1}"#,
        true,
    ),
    case(
        "configure",
        r#"{"settings":{"max_speed":3,"ID":5},"dryRun":true}"#,
        false,
    ),
    case("configure", r#"{"settings":{"maxSpeed":3,"ID":5}}"#, false),
    case(
        "configure",
        r#"{"settings":{"maxSpeed":3,"ID":5},"dry_run":true}"#,
        false,
    ),
    case(
        "configure",
        r#"{"settings":{"maxSpeed":-1,"ID":5},"dryRun":true}"#,
        false,
    ),
    case(
        "configure",
        r#"{"settings":{"maxSpeed":3,"ID":"5"},"dryRun":true}"#,
        false,
    ),
    case(
        "configure",
        r#"{"settings":{"maxSpeed":3,"ID":5,"verbose":"yes"},"dryRun":true}"#,
        false,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Circle","radius":1.5},"id":7,"cmd":{"t":"Stop"},"plain":"A"}"#,
        true,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Square","side":2},"id":"bob","cmd":{"t":"Go","c":3},"plain":{"B":3}}"#,
        true,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Circle","radius":1},"id":1,"cmd":{"t":"Stop"},"plain":{"C":{"x":-4}}}"#,
        true,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Triangle","side":1},"id":7,"cmd":{"t":"Stop"},"plain":"A"}"#,
        false,
    ),
    case(
        "draw",
        r#"{"shape":{"radius":1.5},"id":7,"cmd":{"t":"Stop"},"plain":"A"}"#,
        false,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Circle","radius":1},"id":7,"cmd":{"t":"Go"},"plain":"A"}"#,
        false,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Circle","radius":1},"id":7,"cmd":{"t":"Stop"},"plain":"D"}"#,
        false,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Circle","radius":1},"id":7,"cmd":{"t":"Stop"},"plain":{"B":300}}"#,
        false,
    ),
    case(
        "draw",
        r#"{"shape":{"type":"Circle","radius":1},"id":true,"cmd":{"t":"Stop"},"plain":"A"}"#,
        false,
    ),
    case(
        "flat",
        r#"{"item":{"id":1,"label":"x"},"skippy":{"kept":1}}"#,
        true,
    ),
    case(
        "flat",
        r#"{"item":{"id":1,"label":"x"},"skippy":{"kept":1,"skipped":9}}"#,
        true,
    ),
    case(
        "flat",
        r#"{"item":{"label":"x"},"skippy":{"kept":1}}"#,
        false,
    ),
    case(
        "flat",
        r#"{"item":{"id":1,"label":"x"},"skippy":{}}"#,
        false,
    ),
    case("optional", r#"{}"#, true),
    case("optional", r#"{"a":null,"b":3,"c":[1,2]}"#, true),
    case("optional", r#"{"a":4294967295,"c":null}"#, true),
    case("optional", r#"{"b":70000}"#, false),
    case("optional", r#"{"c":[256]}"#, false),
    case("optional", r#"{"a":"1"}"#, false),
    case("optional", r#"{"b":null}"#, false),
    case("big", r#"{"n":18446744073709551615,"data":[0,255]}"#, true),
    case("big", r#"{"n":-1,"data":[]}"#, false),
    case("big", r#"{"n":1.5,"data":[]}"#, false),
    case("big", r#"{"n":1,"data":"AAEC"}"#, false),
    case("unit", r#"{}"#, true),
    case("unit", r#"{"anything":1}"#, true),
    case("unit", r#"[]"#, false),
    case("unit", r#""x""#, false),
    case("fallible", r#"{"fail":true}"#, true),
    case("fallible", r#"{"fail":false}"#, true),
    case("fallible", r#"{"fail":0}"#, false),
    case("raw", r#"not json at all"#, true),
    case("raw", r#"{"looks":"like json"}"#, true),
];

/// Runs `contract-check.mjs` on a job; returns its report.
fn node_check(job: &Value) -> Value {
    prepare_harness();
    let dir = js_dir();
    let path = std::env::temp_dir().join(format!("lk-contract-job-{}.json", std::process::id()));
    std::fs::write(&path, job.to_string()).unwrap();
    let out = std::process::Command::new("node")
        .arg(dir.join("contract-check.mjs"))
        .arg(&path)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "contract-check.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_are_valid_accept_what_serde_accepts_and_tools_pass_their_checks() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    let caller = room.join("caller").await.unwrap();
    let _serving = server.serve(TortureServer::new(Rack)).unwrap();
    let torture = TortureServer::contract();
    let by_name: HashMap<&str, _> = torture
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();

    let mut checks = Vec::new();
    let mut serde_disagrees = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let method = by_name[c.method];
        let reply = caller
            .perform_rpc(PerformRpcData {
                destination_identity: "server".into(),
                method: method.wire_name.clone(),
                payload: c.payload.into(),
                ..Default::default()
            })
            .await;
        let accepted = match &reply {
            Ok(_) => true,
            Err(e) => !e
                .data
                .as_deref()
                .unwrap_or_default()
                .contains("invalid arguments"),
        };
        if accepted != c.serde_accepts {
            serde_disagrees.push(format!("{} {}: {reply:?}", c.method, c.payload));
        }
        let value = if method.raw {
            Value::from(c.payload)
        } else {
            serde_json::from_str(c.payload).unwrap()
        };
        checks.push(json!({
            "id": format!("case {i}: {} args {}", c.method, c.payload),
            "schema": method.args.accepts(),
            "value": value,
            "expect": c.serde_accepts,
        }));
        match reply {
            Ok(reply) => {
                if let Some(result) = &method.result {
                    let value = if method.raw {
                        Value::from(reply)
                    } else {
                        serde_json::from_str(&reply).unwrap()
                    };
                    checks.push(json!({
                        "id": format!("case {i}: {} result {value}", c.method),
                        "schema": result.schema, "value": value, "expect": true,
                    }));
                }
            }
            Err(e) if accepted => {
                let error = method.error.as_ref().expect("only fallible methods fail");
                assert!(error.codes.as_ref().unwrap().contains(&e.code), "{e:?}");
                let data: Value = serde_json::from_str(e.data.as_deref().unwrap()).unwrap();
                checks.push(json!({
                    "id": format!("case {i}: {} error {data}", c.method),
                    "schema": error.data.schema, "value": data, "expect": true,
                }));
            }
            Err(_) => {}
        }
    }
    assert!(
        serde_disagrees.is_empty(),
        "serde decided otherwise than the cases say:\n{}",
        serde_disagrees.join("\n")
    );
    // The raw method without a parameter is called with the empty payload.
    let raw_out = by_name["raw_out"];
    checks.push(json!({ "id": "rawOut args", "schema": raw_out.args.accepts(), "value": "", "expect": true }));
    checks.push(json!({ "id": "rawOut args", "schema": raw_out.args.accepts(), "value": "x", "expect": false }));

    let mut schemas = Vec::new();
    let (mut mcp, mut openai) = (serde_json::Map::new(), serde_json::Map::new());
    for contract in contracts() {
        for m in &contract.methods {
            let shapes = std::iter::once(("args", &m.args))
                .chain(m.result.as_ref().map(|r| ("result", r)))
                .chain(m.error.as_ref().map(|e| ("error", &e.data)));
            for (part, shape) in shapes {
                for schema in std::iter::once(&shape.schema).chain(shape.deserialize.as_ref()) {
                    schemas.push(json!({
                        "id": format!("{} {part}", m.wire_name),
                        "schema": schema,
                    }));
                }
            }
        }
        let files: HashMap<String, String> = render_files(&contract).unwrap().into_iter().collect();
        let stem = contract.stem();
        mcp.insert(
            stem.clone(),
            serde_json::from_str(&files[&format!("{stem}.mcp-tools.json")]).unwrap(),
        );
        openai.insert(
            stem.clone(),
            serde_json::from_str(&files[&format!("{stem}.openai-tools.json")]).unwrap(),
        );
    }
    let job = json!({ "schemas": schemas, "checks": checks, "mcp": mcp, "openai": openai });
    let report = tokio::task::spawn_blocking(move || node_check(&job))
        .await
        .unwrap();
    for key in ["meta", "checks", "mcp", "openai"] {
        assert_eq!(
            report[key].as_array().map(Vec::len),
            Some(0),
            "{key}: {:#}",
            report[key]
        );
    }
}

#[test]
fn tool_names_that_collide_or_openai_refuses_are_refused_at_export() {
    /// Two wire names, one tool name.
    #[livekit_rpc(contract)]
    #[allow(dead_code)]
    trait Clash {
        #[rpc(name = "a.b_c")]
        async fn one(&self);
        #[rpc(name = "a_b.c")]
        async fn two(&self);
    }
    let dir = std::env::temp_dir().join(format!("lk-clash-{}", std::process::id()));
    let error = livekit_typed_rpc::contract::write_all(&dir, &[ClashServer::contract()])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("\"a.b_c\"") && error.contains("\"a_b.c\"") && error.contains("a_b_c"),
        "{error}"
    );
    assert!(!dir.exists(), "nothing is written when export is refused");

    /// A wire name no tool may have.
    #[livekit_rpc(contract)]
    #[allow(dead_code)]
    trait Slashed {
        #[rpc(name = "robot/arm")]
        async fn arm(&self);
    }
    let error = livekit_typed_rpc::contract::write_all(&dir, &[SlashedServer::contract()])
        .unwrap_err()
        .to_string();
    assert!(error.contains("robot/arm"), "{error}");
}

#[test]
fn generated_typescript_compiles_with_tsc_strict_against_livekit_client() {
    prepare_harness();
    let dir = js_dir();
    let out = std::process::Command::new("node")
        .args([
            "node_modules/typescript/bin/tsc",
            "-p",
            "tsconfig.contract.json",
        ])
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "tsc --strict failed on tests/contract/*.ts with contract-usage.ts:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------------ with livekit-client

struct World {
    _room: MemoryRoom,
    rust: livekit_typed_rpc::Participant,
    _bridge: bridge::BridgeServer,
    js: JsPeer,
}

async fn world() -> World {
    let room = MemoryRoom::new();
    let rust = room.join("rust").await.unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut js = JsPeer::join(server.local_addr(), "js", 2, true).await;
    js.expect_event("joined").await;
    rust.wait_for_participant("js", Duration::from_secs(10))
        .await
        .unwrap();
    World {
        _room: room,
        rust,
        _bridge: server,
        js,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_client_calls_a_rust_service() {
    let mut w = world().await;
    let _serving = w.rust.serve(GeoServer::new(Atlas)).unwrap();

    let r =
        w.js.request(
            json!({"cmd": "geo_call", "destination": "rust", "op": "locate", "city": "London"}),
        )
        .await;
    assert_eq!(r["ok"], "called", "{r}");
    let place: Place = serde_json::from_value(r["value"].clone()).unwrap();
    assert_eq!(place.name, "London");
    assert_eq!(place.alt_names, ["Londinium"]);
    assert_eq!(place.population, 9_000_000_000);

    let r =
        w.js.request(
            json!({"cmd": "geo_call", "destination": "rust", "op": "locate", "city": "Atlantis"}),
        )
        .await;
    assert_eq!(r["isRpcCallError"], true, "{r}");
    assert_eq!(r["error"]["code"], 4040);
    assert_eq!(r["error"]["message"], "no city called Atlantis");
    assert_eq!(
        r["appError"],
        json!({"kind": "unknown", "city": "Atlantis"})
    );
    assert_eq!(r["method"], "geo.locate");

    let r =
        w.js.request(json!({"cmd": "geo_call", "destination": "rust", "op": "reset"}))
            .await;
    assert_eq!(
        (r["ok"].as_str(), &r["undefined"]),
        (Some("called"), &json!(true)),
        "{r}"
    );

    // 5 MB of two-byte characters: 10 MB of UTF-8 over an RPC v2 stream.
    let r =
        w.js.request(
            json!({"cmd": "geo_call", "destination": "rust", "op": "measure", "fill": 5_000_000}),
        )
        .await;
    assert_eq!(r["value"], 10_000_000, "{r}");

    // LiveKit's own errors are RpcCallErrors without an appError.
    let r = w
        .js
        .request(json!({"cmd": "geo_call", "destination": "nobody", "op": "reset", "responseTimeout": 1000}))
        .await;
    assert_eq!(r["isRpcCallError"], true, "{r}");
    assert_eq!(r["appError"], Value::Null);
    assert!(
        r["error"]["code"]
            .as_u64()
            .is_some_and(|c| (1501..=1503).contains(&c)),
        "{r}"
    );
    w.js.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_calls_a_typescript_service() {
    let mut w = world().await;
    let r = w.js.request(json!({"cmd": "geo_serve"})).await;
    assert_eq!(r["ok"], "serving", "{r}");
    let geo = GeoClient::new(w.rust.clone(), "js");

    let place = geo.locate("Paris".into()).await.unwrap();
    assert_eq!(place.name, "Paris");
    assert_eq!(place.alt_names, ["Paris (via rust)"]);

    match geo.locate("Atlantis".into()).await {
        Err(CallError::Application(GeoError::Unknown { city })) => assert_eq!(city, "Atlantis"),
        other => panic!("expected the typed error, got {other:?}"),
    }
    geo.reset().await.unwrap();
    let text = "é".repeat(2_500_000);
    assert_eq!(geo.measure(text).await.unwrap(), 5_000_000);

    // Stopping unregisters every method.
    let r = w.js.request(json!({"cmd": "geo_stop"})).await;
    assert_eq!(r["resets"], 1, "{r}");
    match geo.reset().await {
        Err(CallError::Rpc(e)) => assert_eq!(e.code, RpcErrorCode::UnsupportedMethod as u32),
        other => panic!("expected UNSUPPORTED_METHOD, got {other:?}"),
    }
    w.js.leave().await;
}

// ------------------------------------------------------------------ streams and cancels

/// Waits until `rust` holds no stream, call, handler or queued call.
async fn rust_settles(rust: &livekit_typed_rpc::Participant, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let idle = livekit_typed_rpc::Diagnostics::default();
    while rust.diagnostics() != idle {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Rust participant still holds {:?}",
            rust.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_typescript_consumes_a_rust_stream_and_cancels_it() {
    let mut w = world().await;
    let _serving = w
        .rust
        .serve(quickstart::RobotServer::new(quickstart::Arm))
        .unwrap();

    // A whole stream, in order, with its end.
    let r = w
        .js
        .request(json!({"cmd": "robot_watch", "destination": "rust", "joint": 2, "every_ms": 1, "count": 50, "window": 8}))
        .await;
    assert_eq!(r["ok"], "watched", "{r}");
    let seqs: Vec<u64> = serde_json::from_value(r["seqs"].clone()).unwrap();
    assert_eq!(seqs, (0..50).collect::<Vec<_>>());
    assert_eq!(r["end"], "completed", "{r}");

    // Leaving the loop early cancels the producer at the Rust side: a stream of 1000
    // readings 10 ms apart would otherwise hold it for 10 s.
    let r = w
        .js
        .request(json!({"cmd": "robot_watch", "destination": "rust", "joint": 2, "every_ms": 10, "count": 1000, "take": 5}))
        .await;
    assert_eq!(r["seqs"], json!([0, 1, 2, 3, 4]), "{r}");
    assert_eq!(r["end"], "cancelled", "{r}");
    rust_settles(&w.rust, Duration::from_secs(2)).await;

    // A refused open is the typed error.
    let r = w
        .js
        .request(json!({"cmd": "robot_watch", "destination": "rust", "joint": 9, "every_ms": 1, "count": 1}))
        .await;
    assert_eq!(r["opened"], false, "{r}");
    assert_eq!(r["error"]["code"], 4004, "{r}");
    assert_eq!(r["appError"], json!({"NoSuchJoint": {"joint": 9}}), "{r}");

    // A cancellable call aborted by its caller is cancelled at the Rust side (the
    // quickstart's calibrate has no context, so its handler is dropped).
    let r = w
        .js
        .request(json!({"cmd": "robot_calibrate", "destination": "rust", "millis": 10000, "abort_after": 100}))
        .await;
    assert_eq!(r["ok"], "failed", "{r}");
    assert!(r["ms"].as_u64().unwrap() < 2000, "{r}");
    rust_settles(&w.rust, Duration::from_secs(2)).await;

    // A plain performRpc caller of a streaming method gets 1404 at once, saying why.
    let started = std::time::Instant::now();
    let r =
        w.js.call(
            "rust",
            "robot.watch_joint",
            r#"{"joint":2,"every_ms":10,"count":3}"#,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(r["error"]["code"], 1404, "{r}");
    let data: Value = serde_json::from_str(r["error"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["typed_rpc"]["kind"], "stream_required", "{r}");
    rust_settles(&w.rust, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_consumes_and_cancels_a_stream_served_by_generated_typescript() {
    let mut w = world().await;
    let r = w.js.request(json!({"cmd": "robot_serve"})).await;
    assert_eq!(r["ok"], "serving", "{r}");
    let robot = quickstart::RobotClient::new(w.rust.clone(), "js");

    let readings = robot
        .watch_joint(1, 1, 30)
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(readings.len(), 30);
    assert!(readings
        .iter()
        .enumerate()
        .all(|(i, r)| r.seq as usize == i && r.joint == 1));

    match robot.watch_joint(9, 1, 1).await {
        Err(CallError::Application(quickstart::ArmError::NoSuchJoint { joint: 9 })) => {}
        other => panic!("expected the typed open error, got {other:?}"),
    }

    let mut live = robot.watch_joint(2, 10, 1000).await.unwrap();
    for expected in 0..5 {
        assert_eq!(live.next().await.unwrap().unwrap().seq, expected);
    }
    drop(live);
    let stopped = w.js.expect_event("watch_stopped").await;
    assert_eq!(stopped["reason"], "cancel", "{stopped}");

    let call = robot.calibrate(10_000);
    assert!(tokio::time::timeout(Duration::from_millis(200), call)
        .await
        .is_err());
    let cancelled = w.js.expect_event("calibrate_cancelled").await;
    assert_eq!(cancelled["reason"], "cancel", "{cancelled}");
    rust_settles(&w.rust, Duration::from_secs(2)).await;
}
