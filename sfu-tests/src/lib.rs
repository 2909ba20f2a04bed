//! A real `livekit-server` for the tests, examples and benchmarks: built once from the Go
//! module proxy with `go install` (pinned to [`SERVER_VERSION`]) into `target/`, started per
//! test on free loopback ports with its own key and secret, and its log shown when a test
//! fails.
//!
//! Everything it starts listens on 127.0.0.1 only and is told that its node IP is
//! 127.0.0.1, so no packet of a test leaves the loopback interface. Tests with peers built
//! on libwebrtc, which ignores loopback, run the server and every peer in a network
//! namespace of their own instead ([`private_network`], [`sdk`]). `LIVEKIT_URL`,
//! `LIVEKIT_API_KEY` and `LIVEKIT_API_SECRET` point [`LiveKitServer::shared`] at a server the
//! user already runs instead.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use livekit_api::access_token::{AccessToken, VideoGrants};

pub mod private_network;
pub mod sdk;

/// The livekit-server release the tests run: the newest tag whose go.mod has no
/// `replace` lines, so `go install` builds it from the module proxy.
pub const SERVER_VERSION: &str = "v1.13.5";
const SERVER_MODULE: &str = "github.com/livekit/livekit-server/cmd/server";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The API key every server started here accepts.
pub const API_KEY: &str = "typedrpc";
/// Its secret (livekit-server wants 32 characters or more).
pub const API_SECRET: &str = "typed-rpc-test-secret-of-more-than-32-characters";

/// The workspace's `target/` directory (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The livekit-server binary, built on first use and cached under `target/`. Concurrent
/// test binaries wait for one build (a file lock). Panics, saying how to get Go, when the
/// Go toolchain is missing.
pub fn server_binary() -> PathBuf {
    let dir = target_dir().join("livekit-server").join(SERVER_VERSION);
    let binary = dir.join("server");
    if binary.exists() {
        return binary;
    }
    std::fs::create_dir_all(&dir).expect("create target/livekit-server");
    let lock = File::create(dir.join(".build-lock")).expect("create the build lock");
    lock.lock().expect("lock the livekit-server build");
    if binary.exists() {
        return binary;
    }
    let go = which_go().unwrap_or_else(|| {
        panic!(
            "the real-server tests need livekit-server {SERVER_VERSION}, built with Go 1.26+ \
             (`go` was not found on PATH or in /usr/local/go/bin). Install Go \
             (https://go.dev/dl/ or `apt-get install golang-go` if it is 1.26+), or point the \
             tests at a running server with LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
        )
    });
    eprintln!(
        "building livekit-server {SERVER_VERSION} with {} (once; cached in {})",
        go.display(),
        dir.display()
    );
    let status = Command::new(&go)
        .args(["install", &format!("{SERVER_MODULE}@{SERVER_VERSION}")])
        .env("GOBIN", &dir)
        .env("GOFLAGS", "-mod=mod")
        .status()
        .expect("run go install");
    assert!(
        status.success(),
        "`go install {SERVER_MODULE}@{SERVER_VERSION}` failed ({status}); see its output above"
    );
    assert!(
        binary.exists(),
        "go install did not produce {}",
        binary.display()
    );
    binary
}

fn which_go() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("go"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let default = PathBuf::from("/usr/local/go/bin/go");
        default.is_file().then_some(default)
    })
}

fn free_tcp_port(host: Ipv4Addr) -> u16 {
    TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free TCP port on {host}: {e}"))
}

fn free_udp_port(host: Ipv4Addr) -> u16 {
    UdpSocket::bind((host, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free UDP port on {host}: {e}"))
}

/// What a started server is configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address it listens on and gives as its node IP.
    pub host: Ipv4Addr,
    /// The one interface its ICE gathers candidates on.
    pub interface: String,
    /// Signal (HTTP/WebSocket) port.
    pub port: u16,
    /// The single UDP port its ICE uses.
    pub udp_port: u16,
    /// Its ICE/TCP port.
    pub tcp_port: u16,
    /// A Redis to share rooms with other nodes (`host:port`), if any.
    pub redis: Option<String>,
}

impl ServerConfig {
    /// Free loopback ports, no Redis.
    pub fn loopback() -> Self {
        Self::on(Ipv4Addr::LOCALHOST, "lo")
    }

    /// Free ports on the test's private network ([`private_network::ADDRESS`]), for
    /// peers that ignore loopback; call [`private_network::enter`] first.
    pub fn private_network() -> Self {
        Self::on(private_network::ADDRESS, private_network::INTERFACE)
    }

    fn on(host: Ipv4Addr, interface: &str) -> Self {
        Self {
            host,
            interface: interface.into(),
            port: free_tcp_port(host),
            udp_port: free_udp_port(host),
            tcp_port: free_tcp_port(host),
            redis: None,
        }
    }

    fn yaml(&self) -> String {
        let redis = match &self.redis {
            Some(address) => format!("redis:\n  address: {address}\n"),
            None => String::new(),
        };
        // Every line keeps the server on its one address (loopback, or the test's private
        // network): it binds that address, advertises it as its node IP (no external-IP
        // lookup), gathers candidates on that interface only, and lists a STUN server
        // there instead of public defaults.
        format!(
            "port: {port}\n\
             bind_addresses: [\"{host}\"]\n\
             keys:\n  {API_KEY}: {API_SECRET}\n\
             rtc:\n  node_ip: {host}\n  use_external_ip: false\n  udp_port: {udp}\n  tcp_port: {tcp}\n  \
             enable_loopback_candidate: {loopback}\n  interfaces:\n    includes: [{interface}]\n  \
             stun_servers: [\"{host}:3478\"]\n\
             room:\n  auto_create: true\n  empty_timeout: 30\n\
             logging:\n  level: info\n{redis}",
            port = self.port,
            host = self.host,
            interface = self.interface,
            loopback = self.host.is_loopback(),
            udp = self.udp_port,
            tcp = self.tcp_port,
        )
    }
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A livekit-server process (or, with [`LiveKitServer::shared`] and `LIVEKIT_URL`, a
/// server the user runs). Killed on drop; its log is printed if the test panicked.
pub struct LiveKitServer {
    url: String,
    api_key: String,
    api_secret: String,
    process: Option<Child>,
    config: Option<ServerConfig>,
    log: Option<PathBuf>,
}

impl LiveKitServer {
    /// The server `LIVEKIT_URL` names, or else a fresh one ([`LiveKitServer::start`]).
    pub fn shared() -> Self {
        match (
            std::env::var("LIVEKIT_URL"),
            std::env::var("LIVEKIT_API_KEY"),
            std::env::var("LIVEKIT_API_SECRET"),
        ) {
            (Ok(url), Ok(api_key), Ok(api_secret)) if !url.is_empty() => Self {
                url,
                api_key,
                api_secret,
                process: None,
                config: None,
                log: None,
            },
            _ => Self::start(),
        }
    }

    /// Starts a server of our own on free loopback ports and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(ServerConfig::loopback())
    }

    /// Starts a server of our own on the test's private network (inside
    /// [`private_network::enter`]), where libwebrtc-based peers find candidates.
    pub fn start_private() -> Self {
        Self::start_with(ServerConfig::private_network())
    }

    /// Starts a server with `config` and waits until it answers.
    pub fn start_with(config: ServerConfig) -> Self {
        let binary = server_binary();
        let n = STARTED.fetch_add(1, Ordering::SeqCst);
        let dir = target_dir().join("livekit-server").join("runs");
        std::fs::create_dir_all(&dir).expect("create target/livekit-server/runs");
        let stem = format!("{}-{}-{n}", std::process::id(), config.port);
        let config_path = dir.join(format!("{stem}.yaml"));
        std::fs::write(&config_path, config.yaml()).expect("write the server config");
        let mut server = Self {
            url: format!("ws://{}:{}", config.host, config.port),
            api_key: API_KEY.into(),
            api_secret: API_SECRET.into(),
            process: None,
            config: Some(config),
            log: Some(dir.join(format!("{stem}.log"))),
        };
        server.spawn(&binary, &config_path);
        server
    }

    fn spawn(&mut self, binary: &Path, config_path: &Path) {
        let log_path = self.log.clone().expect("our own server has a log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open the server log");
        let child = Command::new(binary)
            .arg("--config")
            .arg(config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        self.process = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let (host, port) = self
            .config
            .as_ref()
            .map(|c| (c.host, c.port))
            .expect("own server");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if health_ok(host, port) {
                return;
            }
            if let Some(child) = self.process.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "livekit-server exited at start ({status}):\n{}",
                        self.log_text()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "livekit-server did not answer on {host}:{port} within {} s:\n{}",
                READY_TIMEOUT.as_secs(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ws://<host>:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The API key tokens are signed for.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Its secret, for SDK peers that mint their own tokens.
    pub fn api_secret(&self) -> &str {
        &self.api_secret
    }

    /// The HTTP port, for a server of our own.
    pub fn config(&self) -> Option<&ServerConfig> {
        self.config.as_ref()
    }

    /// A token for `identity` in `room` with the grants a typed service needs
    /// (join, publish data, update its own attributes).
    pub fn token(&self, room: &str, identity: &str) -> String {
        self.token_with(room, identity, |t| t)
    }

    /// A token as [`LiveKitServer::token`], changed by `edit` (kind, attributes, grants).
    pub fn token_with(
        &self,
        room: &str,
        identity: &str,
        edit: impl FnOnce(AccessToken) -> AccessToken,
    ) -> String {
        let token = AccessToken::with_api_key(&self.api_key, &self.api_secret)
            .with_identity(identity)
            .with_name(identity)
            .with_grants(VideoGrants {
                room_join: true,
                room: room.into(),
                can_publish: Some(true),
                can_publish_data: Some(true),
                can_subscribe: Some(true),
                can_update_own_metadata: Some(true),
                ..Default::default()
            });
        edit(token).to_jwt().expect("sign a token")
    }

    /// Kills the server process (as a crash would): no leave, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports, after [`LiveKitServer::kill`].
    pub fn restart(&mut self) {
        assert!(
            self.process.is_none(),
            "kill the server before restarting it"
        );
        let config = self.config.clone().expect("only our own server restarts");
        let config_path = self
            .log
            .as_ref()
            .expect("own server")
            .with_extension("yaml");
        std::fs::write(&config_path, config.yaml()).expect("write the server config");
        let binary = server_binary();
        self.spawn(&binary, &config_path);
    }

    /// What the server logged so far (its last 200 lines).
    pub fn log_text(&self) -> String {
        let Some(path) = &self.log else {
            return "(a server the user runs: no log here)".into();
        };
        let mut text = String::new();
        if let Ok(mut f) = File::open(path) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(200)..].join("\n");
        format!("--- {} ---\n{tail}", path.display())
    }
}

impl Drop for LiveKitServer {
    fn drop(&mut self) {
        if std::thread::panicking() && self.log.is_some() {
            eprintln!(
                "livekit-server log of the failed test:\n{}",
                self.log_text()
            );
        }
        self.kill();
    }
}

/// A `redis-server` on a free loopback port, with nothing saved to disk, for nodes that
/// share rooms. Killed on drop.
pub struct Redis {
    process: Child,
    port: u16,
}

impl Redis {
    /// Starts Debian's `redis-server`; panics, saying how to get it, when it is missing.
    pub fn start() -> Self {
        let port = free_tcp_port(Ipv4Addr::LOCALHOST);
        let process = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): the multi-node test needs it; \
                     install it with `apt-get install redis-server`"
                )
            });
        let redis = Self { process, port };
        let deadline = Instant::now() + READY_TIMEOUT;
        while !redis.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && matches!(stream.read(&mut reply), Ok(n) if reply[..n].starts_with(b"+PONG"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn health_ok(host: Ipv4Addr, port: u16) -> bool {
    let addr = SocketAddr::from((host, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = format!("GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = [0u8; 16];
    matches!(stream.read(&mut response), Ok(n) if n >= 12 && response.starts_with(b"HTTP/1.1 200"))
}
