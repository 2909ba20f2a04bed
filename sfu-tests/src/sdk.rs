//! LiveKit's own SDKs as participants of a test: PyPI `livekit` in a virtualenv, npm
//! `@livekit/rtc-node`, and npm `livekit-client` in Debian's headless Chromium, each
//! installed once from its pinned lock file, and driven through `python/peer.py`,
//! `node/peer.mjs` or `browser/driver.mjs` one JSON command at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::{target_dir, LiveKitServer};

fn sfu_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's committed contract files (`tests/contract/`), where `robot_rpc.py` is.
pub fn contract_dir() -> PathBuf {
    sfu_tests_dir().join("../tests/contract")
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Python of a virtualenv with `python/requirements.txt` installed, made on first use
/// under `target/python-venv/` (again whenever the requirements change).
pub fn python() -> PathBuf {
    let requirements = sfu_tests_dir().join("python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("read python/requirements.txt");
    let venv = target_dir().join("python-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("requirements.installed");
    let installed = || std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str());
    if installed() {
        return python;
    }
    std::fs::create_dir_all(target_dir()).expect("create target/");
    let lock = File::create(target_dir().join(".python-venv-lock")).expect("create a lock");
    lock.lock().expect("lock the virtualenv");
    if installed() {
        return python;
    }
    eprintln!(
        "creating {} from {}",
        venv.display(),
        requirements.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    let python3 = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let made = Command::new(&python3)
        .args(["-m", "venv"])
        .arg(&venv)
        .output();
    match made {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "cannot make a virtualenv with `{python3} -m venv` ({other:?}): the Python SDK tests \
             need Python 3.9+ with venv (`apt-get install python3-venv`), or set PYTHON"
        ),
    }
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install -r sfu-tests/python/requirements.txt (PyPI must be reachable)",
    );
    std::fs::write(&stamp, &wanted).expect("stamp the virtualenv");
    python
}

/// `sfu-tests/node` with its `node_modules` installed by `npm ci` from the committed
/// lock file (once; again when the lock file changes).
pub fn node_peer_dir() -> PathBuf {
    npm_package("node")
}

/// `sfu-tests/browser`, installed, with the page and the generated `robot.ts` checked by
/// `tsc --strict` and bundled into `dist/page.js` (every time: it takes a second, and the
/// generated module may have changed). Panics, saying how to get it, without Chromium.
pub fn browser_peer_dir() -> PathBuf {
    let chromium = chromium();
    assert!(
        chromium.exists(),
        "the browser tests run Debian's Chromium at {} (set CHROMIUM to use another):          install it with `apt-get install chromium`",
        chromium.display()
    );
    let dir = npm_package("browser");
    run(
        Command::new("node")
            .args(["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"])
            .current_dir(&dir),
        "tsc --strict on sfu-tests/browser/page.ts and tests/contract/robot.ts",
    );
    run(
        Command::new("node").arg("build.mjs").current_dir(&dir),
        "bundling sfu-tests/browser/page.ts with esbuild",
    );
    dir
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn npm_package(name: &str) -> PathBuf {
    let dir = sfu_tests_dir().join(name);
    let lock_file = std::fs::read_to_string(dir.join("package-lock.json"))
        .unwrap_or_else(|e| panic!("read sfu-tests/{name}/package-lock.json: {e}"));
    let stamp = dir.join("node_modules/.installed-lock");
    let installed = || std::fs::read_to_string(&stamp).ok().as_deref() == Some(lock_file.as_str());
    if installed() {
        return dir;
    }
    std::fs::create_dir_all(target_dir()).expect("create target/");
    let lock = File::create(target_dir().join(format!(".npm-{name}-lock"))).expect("create a lock");
    lock.lock().expect("lock the npm install");
    if installed() {
        return dir;
    }
    eprintln!("npm ci in {}", dir.display());
    run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir),
        &format!(
            "npm ci in sfu-tests/{name} (Node 20+ with npm; the npm registry must be reachable)"
        ),
    );
    std::fs::write(&stamp, &lock_file).expect("stamp node_modules");
    dir
}

/// Installs `sdk` (once) where the registries are reachable: before
/// [`crate::private_network::enter`], whose namespace has no way out.
pub fn install(sdk: Sdk) {
    match sdk {
        Sdk::Python => {
            python();
        }
        Sdk::Node => {
            node_peer_dir();
        }
        Sdk::Browser => {
            browser_peer_dir();
        }
    }
}

/// Which SDK a [`SdkPeer`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// PyPI `livekit` (`python/peer.py`).
    Python,
    /// npm `@livekit/rtc-node` (`node/peer.mjs`).
    Node,
    /// npm `livekit-client` in headless Chromium (`browser/driver.mjs` and `page.ts`).
    Browser,
}

/// One SDK participant process. It leaves and exits when dropped.
pub struct SdkPeer {
    sdk: Sdk,
    child: Child,
    stdin: Option<ChildStdin>,
    answers: mpsc::Receiver<String>,
    stderr_log: PathBuf,
}

impl SdkPeer {
    /// Starts a peer process (not yet joined: send `join`).
    pub fn start(sdk: Sdk, server: &LiveKitServer) -> Self {
        let logs = target_dir().join("livekit-server").join("runs");
        std::fs::create_dir_all(&logs).expect("create the log directory");
        let stderr_log = logs.join(format!(
            "{}-{:?}-{}.stderr",
            std::process::id(),
            sdk,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let stderr = File::create(&stderr_log).expect("create the peer's log");
        let mut command = match sdk {
            Sdk::Python => {
                let mut c = Command::new(python());
                c.arg(sfu_tests_dir().join("python/peer.py"))
                    .env("PYTHONPATH", contract_dir())
                    .env("PYTHONUNBUFFERED", "1");
                c
            }
            Sdk::Node => {
                let dir = sfu_tests_dir().join("node");
                let mut c = Command::new("node");
                c.arg(dir.join("peer.mjs")).current_dir(dir);
                c
            }
            Sdk::Browser => {
                let dir = sfu_tests_dir().join("browser");
                let mut c = Command::new("node");
                c.arg(dir.join("driver.mjs"))
                    .current_dir(dir)
                    .env("CHROMIUM", chromium());
                c
            }
        };
        let mut child = command
            .env("LIVEKIT_API_KEY", server.api_key())
            .env("LIVEKIT_API_SECRET", server.api_secret())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {sdk:?} peer: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(answer) = line.strip_prefix("@@ ") {
                    if tx.send(answer.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Self {
            sdk,
            child,
            stdin,
            answers,
            stderr_log,
        }
    }

    /// Sends one command and waits (up to `timeout`) for its answer:
    /// `{"ok": true, "value": ..}` or `{"ok": false, "code": .., "message": .., "data": ..}`.
    pub fn send(&mut self, command: Value, timeout: Duration) -> Value {
        let stdin = self.stdin.as_mut().expect("the peer's stdin is open");
        writeln!(stdin, "{command}").expect("write a command to the peer");
        stdin.flush().expect("flush the peer's stdin");
        match self.answers.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line).expect("the peer answers JSON"),
            Err(e) => panic!(
                "the {:?} peer did not answer {command} within {timeout:?} ({e}); its log:\n{}",
                self.sdk,
                self.log_text()
            ),
        }
    }

    /// As [`SdkPeer::send`], asserting success and returning the value.
    pub fn ok(&mut self, command: Value, timeout: Duration) -> Value {
        let answer = self.send(command.clone(), timeout);
        assert_eq!(
            answer["ok"],
            Value::Bool(true),
            "the {:?} peer failed {command}: {answer}\nits log:\n{}",
            self.sdk,
            self.log_text()
        );
        answer["value"].clone()
    }

    /// Joins `room` on `server` as `identity`. The Python and Node peers mint their own
    /// token with their SDK's token library; the page gets one minted here.
    pub fn join(&mut self, server: &LiveKitServer, room: &str, identity: &str) {
        let token = server.token(room, identity);
        self.ok(
            serde_json::json!({
                "cmd": "join", "url": server.url(), "room": room, "identity": identity, "token": token,
            }),
            Duration::from_secs(30),
        );
    }

    /// What the peer wrote to stderr (its SDK's logs), the last 100 lines.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ---\n{}",
            self.stderr_log.display(),
            lines[lines.len().saturating_sub(100)..].join("\n")
        )
    }

    /// The peer's log file.
    pub fn log_path(&self) -> &Path {
        &self.stderr_log
    }
}

impl Drop for SdkPeer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{:?} peer log of the failed test:\n{}",
                self.sdk,
                self.log_text()
            );
        }
        // Closing stdin ends the command loop; the process is killed if it lingers.
        self.stdin.take();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
