//! A livekit-client 2.23.0 participant in a Node process (tests/interop/js/harness.ts),
//! driven over JSON lines: shared by the interop tests and the benchmarks.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/js")
}

fn run(cmd: &str, args: &[&str]) {
    let status = std::process::Command::new(cmd)
        .args(args)
        .current_dir(js_dir())
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run `{cmd}`: {e}. The JavaScript interop tests need Node.js 20+ and npm: install them (https://nodejs.org) and run `cargo test --workspace` again")
        });
    assert!(
        status.success(),
        "`{cmd} {}` failed in {}",
        args.join(" "),
        js_dir().display()
    );
}

/// Installs the pinned SDK from the lockfile and bundles the harness, once per run.
pub fn prepare_harness() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = js_dir();
            let installed = dir.join("node_modules/.package-lock.json");
            let lock = dir.join("package-lock.json");
            let fresh = match (installed.metadata(), lock.metadata()) {
                (Ok(i), Ok(l)) => i.modified().ok() >= l.modified().ok(),
                _ => false,
            };
            if !fresh {
                run("npm", &["ci", "--no-audit", "--no-fund"]);
            }
            run("node", &["build.mjs"]);
            dir.join("dist/harness.mjs")
        })
        .clone()
}

type Replies = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A livekit-client participant in another process.
pub struct JsPeer {
    pub identity: String,
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    replies: Replies,
    pub events: mpsc::UnboundedReceiver<Value>,
    next_id: u64,
}

impl JsPeer {
    pub async fn join(
        addr: std::net::SocketAddr,
        identity: &str,
        protocol: i32,
        compression: bool,
    ) -> Self {
        let script = tokio::task::spawn_blocking(prepare_harness).await.unwrap();
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .args([
                addr.to_string(),
                identity.into(),
                protocol.to_string(),
                (compression as u8).to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let replies: Replies = Arc::default();
        let (events_tx, events) = mpsc::unbounded_channel();
        let r = replies.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                match v.get("id").and_then(Value::as_u64) {
                    Some(id) => {
                        if let Some(tx) = r.lock().unwrap().remove(&id) {
                            let _ = tx.send(v);
                        }
                    }
                    None => {
                        let _ = events_tx.send(v);
                    }
                }
            }
        });
        let mut peer = Self {
            identity: identity.into(),
            child,
            stdin,
            replies,
            events,
            next_id: 0,
        };
        peer.expect_event("ready").await;
        peer
    }

    pub async fn expect_event(&mut self, kind: &str) -> Value {
        loop {
            let v = tokio::time::timeout(Duration::from_secs(30), self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind} event from {}", self.identity))
                .expect("harness exited");
            if v["event"] == kind {
                return v;
            }
        }
    }

    /// Sends a command; returns a receiver for its reply (so calls can overlap).
    pub async fn send(&mut self, mut cmd: Value) -> oneshot::Receiver<Value> {
        self.next_id += 1;
        cmd["id"] = json!(self.next_id);
        let (tx, rx) = oneshot::channel();
        self.replies.lock().unwrap().insert(self.next_id, tx);
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
        rx
    }

    pub async fn request(&mut self, cmd: Value) -> Value {
        let rx = self.send(cmd).await;
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("harness answered")
            .unwrap()
    }

    pub async fn register(&mut self, method: &str, behaviour: &str) {
        let r = self
            .request(json!({"cmd": "register", "method": method, "behaviour": behaviour}))
            .await;
        assert_eq!(r["ok"], "registered", "{r}");
    }

    pub async fn call(&mut self, destination: &str, method: &str, payload: &str) -> Value {
        self.request(json!({"cmd": "call", "destination": destination, "method": method, "payload": payload})).await
    }

    pub async fn leave(mut self) {
        drop(self.send(json!({"cmd": "leave"})).await);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
