//! Who serves what: participant attributes (LiveKit's merge rule and 64 KiB limit, over
//! the in-process room, the bridge and livekit-client), the manifest attribute serving
//! publishes, discovery that never meets UNSUPPORTED_METHOD, fan-out calls, and the
//! built-in `__describe` method.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use livekit_typed_rpc::discovery::ServiceManifest;
use livekit_typed_rpc::{
    bridge, livekit_rpc, CallError, Error, ErrorCode, JoinOptions, MemoryRoom, Participant,
    PerformRpcData, RpcErrorCode,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::js::JsPeer;

fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const WAIT: Duration = Duration::from_secs(5);

/// What `observer` sees of `identity`'s attributes once `check` holds.
async fn seen_attributes(
    observer: &Participant,
    identity: &str,
    check: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    observer
        .wait_for_remotes(WAIT, |remotes| {
            remotes
                .iter()
                .find(|r| r.identity == identity && check(&r.attributes))
                .map(|r| r.attributes.clone())
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "{} never saw the expected attributes of {identity}",
                observer.identity()
            )
        })
}

// ------------------------------------------------------------------ attributes

#[tokio::test]
async fn attributes_merge_as_livekit_does_and_everyone_sees_them() {
    let room = MemoryRoom::new();
    let alice = room
        .join_with(
            "alice",
            JoinOptions {
                attributes: attrs(&[("role", "robot"), ("zone", "a")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let bob = room.join("bob").await.unwrap();
    assert_eq!(
        bob.remote_participant("alice").unwrap().attributes,
        attrs(&[("role", "robot"), ("zone", "a")])
    );

    // An empty value deletes; other keys stay; new keys are added.
    alice
        .set_attributes(attrs(&[("zone", ""), ("battery", "93")]))
        .await
        .unwrap();
    assert_eq!(
        alice.attributes(),
        attrs(&[("role", "robot"), ("battery", "93")])
    );
    let seen = seen_attributes(&bob, "alice", |a| a.contains_key("battery")).await;
    assert_eq!(seen, attrs(&[("role", "robot"), ("battery", "93")]));

    // Over 64 KiB in all: refused, nothing changes, and the error says how to fix it.
    let big = "x".repeat(64 * 1024);
    let error = alice
        .set_attributes(attrs(&[("photo", &big)]))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Attributes(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("65536") && message.contains("delete keys"),
        "{message}"
    );
    assert_eq!(
        alice.attributes(),
        attrs(&[("role", "robot"), ("battery", "93")])
    );
    // Exactly at the limit is fine (keys count too).
    let fits = "y".repeat(64 * 1024 - "photo".len() - attributes_bytes(&alice.attributes()));
    alice
        .set_attributes(attrs(&[("photo", &fits)]))
        .await
        .unwrap();

    // Joining with too much is refused too.
    let error = room
        .join_with(
            "carol",
            JoinOptions {
                attributes: attrs(&[("k", &big)]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Attributes(_)), "{error:?}");

    // After leaving, nothing can be set.
    alice.leave().await;
    assert!(matches!(
        alice.set_attributes(attrs(&[("a", "b")])).await,
        Err(Error::NotConnected)
    ));
}

fn attributes_bytes(a: &HashMap<String, String>) -> usize {
    a.iter().map(|(k, v)| k.len() + v.len()).sum()
}

#[tokio::test]
async fn attributes_travel_over_the_bridge_both_ways() {
    let room = MemoryRoom::new();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let local = room.join("local").await.unwrap();
    let remote = bridge::connect(server.local_addr(), "remote", JoinOptions::default())
        .await
        .unwrap();

    remote
        .set_attributes(attrs(&[("status", "ready")]))
        .await
        .unwrap();
    let seen = seen_attributes(&local, "remote", |a| a.contains_key("status")).await;
    assert_eq!(seen, attrs(&[("status", "ready")]));

    local
        .set_attributes(attrs(&[("status", "busy")]))
        .await
        .unwrap();
    let seen = seen_attributes(&remote, "local", |a| a.contains_key("status")).await;
    assert_eq!(seen, attrs(&[("status", "busy")]));

    // Deleting travels too.
    remote
        .set_attributes(attrs(&[("status", "")]))
        .await
        .unwrap();
    seen_attributes(&local, "remote", |a| a.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_client_sees_rust_attributes_and_rust_sees_its() {
    let room = MemoryRoom::new();
    let rust = room
        .join_with(
            "rust",
            JoinOptions {
                attributes: attrs(&[("role", "agent")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let mut js = JsPeer::join(server.local_addr(), "js", 2, true).await;
    let joined = js.expect_event("joined").await;
    assert_eq!(joined["attributes"], json!({"role": "agent"}), "{joined}");

    rust.set_attributes(attrs(&[("mood", "calm")]))
        .await
        .unwrap();
    let update = js.expect_event("attributes").await;
    assert_eq!(update["identity"], "rust");
    assert_eq!(
        update["attributes"],
        json!({"role": "agent", "mood": "calm"})
    );

    let r = js
        .request(
            json!({"cmd": "set_attributes", "attributes": {"lang": "ts", "sdk": "livekit-client"}}),
        )
        .await;
    assert_eq!(r["ok"], "sent", "{r}");
    let seen = seen_attributes(&rust, "js", |a| a.contains_key("lang")).await;
    assert_eq!(seen, attrs(&[("lang", "ts"), ("sdk", "livekit-client")]));
    js.leave().await;
}

// ------------------------------------------------------------------ manifest and discovery

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum SensorError {
    Broken,
}

impl ErrorCode for SensorError {
    const CODES: &'static [u32] = &[4500];
    fn error_code(&self) -> u32 {
        4500
    }
}

/// A sensor that reports readings.
#[livekit_rpc(namespace = "sensor", contract)]
pub trait Sensor {
    /// One reading, scaled.
    async fn read(&self, scale: u32) -> Result<f64, SensorError>;
    /// Who answers.
    async fn name(&self) -> String;
}

#[derive(Clone)]
enum Behaviour {
    Fast(f64),
    Slow(Duration),
    Failing,
    Leaving(Duration),
}

struct Probe {
    name: String,
    behaviour: Behaviour,
}

impl Sensor for Probe {
    async fn read(&self, scale: u32) -> Result<f64, SensorError> {
        match &self.behaviour {
            Behaviour::Fast(v) => Ok(v * f64::from(scale)),
            Behaviour::Slow(d) | Behaviour::Leaving(d) => {
                tokio::time::sleep(*d).await;
                Ok(0.0)
            }
            Behaviour::Failing => Err(SensorError::Broken),
        }
    }

    async fn name(&self) -> String {
        self.name.clone()
    }
}

fn probe(name: &str, value: f64) -> SensorServer<Probe> {
    SensorServer::new(Probe {
        name: name.into(),
        behaviour: Behaviour::Fast(value),
    })
}

/// A trait that shares no methods with `Sensor`, to check discovery matches by service.
#[livekit_rpc(namespace = "thermo")]
pub trait Thermometer {
    async fn celsius(&self) -> f64;
}

struct Warm;
impl Thermometer for Warm {
    async fn celsius(&self) -> f64 {
        21.5
    }
}

#[tokio::test]
async fn serving_publishes_a_manifest_and_stopping_or_leaving_removes_it() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    let watcher = room.join("watcher").await.unwrap();
    let serving = server.serve(probe("s", 1.0)).unwrap();
    let _thermo = server.serve(ThermometerServer::new(Warm)).unwrap();

    let key = "typed-rpc.service.Sensor";
    let seen = seen_attributes(&watcher, "server", |a| a.contains_key(key)).await;
    let manifest: Value = serde_json::from_str(&seen[key]).unwrap();
    assert_eq!(
        manifest,
        json!({
            "v": 1,
            "service": "Sensor",
            "namespace": "sensor",
            "methods": ["sensor.read", "sensor.name"],
            "contract": SensorServer::contract().hash(),
            "describe": "sensor.__describe",
        })
    );
    assert!(!key.starts_with("lk."), "outside LiveKit's reserved prefix");
    // Without `contract`, the manifest has no hash and no describe method.
    let thermo: ServiceManifest =
        serde_json::from_str(&seen["typed-rpc.service.Thermometer"]).unwrap();
    assert_eq!((thermo.contract, thermo.describe), (None, None));
    assert_eq!(watcher.servers("Sensor"), ["server"]);

    // Stopping removes it (and keeps the other service's).
    serving.stop();
    let seen = seen_attributes(&watcher, "server", |a| !a.contains_key(key)).await;
    assert!(seen.contains_key("typed-rpc.service.Thermometer"));
    assert!(watcher.servers("Sensor").is_empty());

    // Leaving removes everything: the participant is gone.
    let _serving = server.serve(probe("s", 1.0)).unwrap();
    seen_attributes(&watcher, "server", |a| a.contains_key(key)).await;
    server.leave().await;
    assert!(watcher
        .wait_for_remotes(WAIT, |r| r.is_empty().then_some(()))
        .await
        .is_some());
    assert!(watcher.servers("Sensor").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_waits_for_a_late_server_and_never_meets_unsupported_method() {
    for round in 0..20 {
        let room = MemoryRoom::new();
        let caller = room.join("caller").await.unwrap();
        let waiting = {
            let caller = caller.clone();
            tokio::spawn(async move { SensorClient::discover(&caller, WAIT).await })
        };
        tokio::time::sleep(Duration::from_millis(if round == 0 {
            200
        } else {
            round % 3
        }))
        .await;
        let server = room.join("late-server").await.unwrap();
        let _serving = server.serve(probe("late", 2.0)).unwrap();
        let sensor = waiting.await.unwrap().expect("discovered");
        assert_eq!(sensor.destination(), "late-server");
        // The very first call after discovery is served.
        assert_eq!(sensor.read(3).await.unwrap(), 6.0, "round {round}");
        assert_eq!(sensor.name().await.unwrap(), "late");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_over_the_bridge() {
    let room = MemoryRoom::new();
    let server = bridge::serve(room.clone(), "127.0.0.1:0").await.unwrap();
    let caller = room.join("caller").await.unwrap();
    let remote = bridge::connect(server.local_addr(), "bridged", JoinOptions::default())
        .await
        .unwrap();
    let _serving = remote.serve(probe("bridged", 1.5)).unwrap();
    let sensor = SensorClient::discover(&caller, WAIT).await.unwrap();
    assert_eq!(sensor.destination(), "bridged");
    assert_eq!(sensor.read(2).await.unwrap(), 3.0);
    // And the other way round: a bridged caller discovers an in-process server.
    let local = room.join("local").await.unwrap();
    let _thermo = local.serve(ThermometerServer::new(Warm)).unwrap();
    let thermo = ThermometerClient::discover(&remote, WAIT).await.unwrap();
    assert_eq!(thermo.celsius().await.unwrap(), 21.5);
}

#[tokio::test]
async fn none_and_several_servers_are_distinct_clear_errors() {
    let room = MemoryRoom::new();
    let caller = room.join("caller").await.unwrap();
    let bystander = room.join("bystander").await.unwrap();
    let _thermo = bystander.serve(ThermometerServer::new(Warm)).unwrap();

    let started = Instant::now();
    let error = SensorClient::discover(&caller, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    match &error {
        Error::ServiceNotFound {
            service, present, ..
        } => {
            assert_eq!(service, "Sensor");
            assert_eq!(present, &["bystander"]);
        }
        other => panic!("expected ServiceNotFound, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("no participant serves \"Sensor\""),
        "{error}"
    );

    let a = room.join("sensor-a").await.unwrap();
    let b = room.join("sensor-b").await.unwrap();
    let _a = a.serve(probe("a", 1.0)).unwrap();
    let _b = b.serve(probe("b", 1.0)).unwrap();
    caller
        .wait_for_remotes(WAIT, |_| {
            (caller.servers("Sensor").len() == 2).then_some(())
        })
        .await
        .unwrap();
    let error = SensorClient::discover(&caller, WAIT).await.unwrap_err();
    match &error {
        Error::ServiceAmbiguous { identities, .. } => {
            assert_eq!(identities, &["sensor-a", "sensor-b"])
        }
        other => panic!("expected ServiceAmbiguous, got {other:?}"),
    }
    assert!(error.to_string().contains("fan_out"), "{error}");
    assert_eq!(SensorClient::servers(&caller), ["sensor-a", "sensor-b"]);
    // The raw form.
    assert!(matches!(
        caller.wait_for_service("Sensor", WAIT).await,
        Err(Error::ServiceAmbiguous { .. })
    ));
    assert_eq!(
        caller.wait_for_service("Thermometer", WAIT).await.unwrap(),
        "bystander"
    );
}

// ------------------------------------------------------------------ fan-out

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_fifty_servers_fast_slow_failing_and_leaving() {
    let room = MemoryRoom::new();
    let caller = room.join("caller").await.unwrap();
    let mut servers = Vec::new();
    let mut leaving = Vec::new();
    for i in 0..50 {
        let identity = format!("s{i:02}");
        let behaviour = match i % 5 {
            0 | 1 => Behaviour::Fast(f64::from(i)),
            2 => Behaviour::Slow(Duration::from_secs(3)),
            3 => Behaviour::Failing,
            _ => Behaviour::Leaving(Duration::from_millis(800)),
        };
        let p = room.join(&identity).await.unwrap();
        let serving = p
            .serve(SensorServer::new(Probe {
                name: identity.clone(),
                behaviour: behaviour.clone(),
            }))
            .unwrap();
        if matches!(behaviour, Behaviour::Leaving(_)) {
            leaving.push(p.clone());
        }
        servers.push((p, serving));
    }
    let fan_out = SensorClient::fan_out(&caller).with_timeout(Duration::from_secs(1));
    caller
        .wait_for_remotes(WAIT, |_| (fan_out.servers().len() == 50).then_some(()))
        .await
        .expect("all 50 manifests seen");

    // The leaving servers go while their calls are in their handlers (800 ms), well
    // inside the 1 s timeout, so each such call ends as the destination leaving.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        for p in leaving {
            p.leave().await;
        }
    });
    let started = Instant::now();
    let results = fan_out.read(10).await;
    let elapsed = started.elapsed();
    assert_eq!(results.len(), 50);
    for (identity, result) in &results {
        let i: u32 = identity[1..].parse().unwrap();
        match (i % 5, result) {
            (0 | 1, Ok(v)) => assert_eq!(*v, f64::from(i) * 10.0),
            (2, Err(CallError::Rpc(e))) => {
                assert_eq!(e.code, RpcErrorCode::ResponseTimeout as u32, "{identity}")
            }
            (3, Err(CallError::Application(SensorError::Broken))) => {}
            (4, Err(CallError::Rpc(e))) => {
                assert_eq!(
                    e.code,
                    RpcErrorCode::RecipientDisconnected as u32,
                    "{identity}"
                )
            }
            (kind, other) => panic!("{identity} (kind {kind}): unexpected {other:?}"),
        }
    }
    // In parallel: one second of timeout for everyone, not ten of them in a row.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");

    // The next call goes only to those still serving.
    let names = fan_out.name().await;
    assert_eq!(names.len(), 40);
    assert!(names.iter().all(|(id, name)| name.as_ref().unwrap() == id));
    drop(servers);
}

// ------------------------------------------------------------------ __describe

#[tokio::test]
async fn a_contract_service_describes_itself() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    let caller = room.join("caller").await.unwrap();
    let serving = server.serve(probe("s", 1.0)).unwrap();
    assert!(serving.methods().contains(&"sensor.__describe".to_owned()));
    let reply = caller
        .perform_rpc(PerformRpcData {
            destination_identity: "server".into(),
            method: "sensor.__describe".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let described: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(described, SensorServer::contract().to_json());
    assert_eq!(described["methods"][0]["wire_name"], "sensor.read");
    // The manifest names the same hash, so a peer can tell whether its copy is current.
    let seen = seen_attributes(&caller, "server", |a| !a.is_empty()).await;
    let manifest: ServiceManifest =
        serde_json::from_str(&seen["typed-rpc.service.Sensor"]).unwrap();
    assert_eq!(manifest.contract.as_deref(), described["hash"].as_str());
}
