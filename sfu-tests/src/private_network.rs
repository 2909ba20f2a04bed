//! A network namespace of the test's own, for peers built on libwebrtc (the Python and
//! Node SDKs, Chromium), which gather no ICE candidates on loopback interfaces.
//!
//! [`enter`] runs the calling test a second time, inside `unshare --net`, where `lo` is up
//! and a veth pair carries [`ADDRESS`]. The server, the Rust participant and the SDK peers
//! all run in there: nothing they send can leave the namespace, and each test gets a
//! namespace of its own, so tests running at once do not meet.

use std::net::Ipv4Addr;
use std::process::Command;

/// The address the test's veth interface carries inside its namespace.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The interface carrying [`ADDRESS`].
pub const INTERFACE: &str = "lkt0";
const PEER_INTERFACE: &str = "lkt1";
/// Set in the inner run, to the outer run's network namespace: the inner run checks that
/// it is in another one before it touches any interface.
const OUTER_NAMESPACE: &str = "LIVEKIT_TYPED_RPC_OUTER_NETNS";

fn namespace_id() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Runs the calling test inside a network namespace of its own.
///
/// Nothing inside the namespace reaches a registry: install what the test needs before
/// (`sdk::install`); the livekit-server build happens here, before entering.
///
/// In the test's own process this starts `<test binary> --exact <test> --nocapture` under
/// `unshare --net`, panics with the inner run's output if it failed, prints that output
/// otherwise, and returns `false`: the test body has run, in there, and the caller returns.
/// In the inner run it brings the namespace's interfaces up and returns `true`.
///
/// `test` is the test's path as the test harness names it (the function name for a test
/// at the top of an integration-test file).
pub fn enter(test: &str) -> bool {
    if inside() {
        return true;
    }
    let output = unshare()
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .output()
        .unwrap_or_else(|e| panic!("{}", cannot_unshare(e)));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`{test}` failed inside its network namespace ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("1 passed"),
        "`{test}` did not run inside its network namespace (no test of that name?):\n{stdout}"
    );
    println!("{stdout}");
    false
}

/// [`enter`] for a program of its own (a benchmark with `harness = false`): runs this
/// program again, with its arguments, inside a network namespace of its own, its output
/// going where this one's goes. Returns `false` once that run succeeded (exits with its
/// status if it failed); `true` in that run.
pub fn enter_program() -> bool {
    if inside() {
        return true;
    }
    let status = unshare()
        .args(std::env::args_os().skip(1))
        .status()
        .unwrap_or_else(|e| panic!("{}", cannot_unshare(e)));
    if !status.success() {
        eprintln!("the run inside the network namespace failed ({status})");
        std::process::exit(status.code().unwrap_or(1));
    }
    false
}

/// In the inner run (checked to be in another namespace than the outer): the interfaces
/// are set up and `true` returned.
fn inside() -> bool {
    let Ok(outer) = std::env::var(OUTER_NAMESPACE) else {
        return false;
    };
    assert_ne!(
        outer,
        namespace_id(),
        "{OUTER_NAMESPACE} is set but this process is in the outer network namespace"
    );
    set_up_interfaces();
    true
}

/// `unshare --net -- <this program>`, with what the inner run needs built beforehand.
fn unshare() -> Command {
    crate::server_binary();
    let exe = std::env::current_exe().expect("this program's path");
    let mut unshare = Command::new("unshare");
    if !running_as_root() {
        // An unprivileged user may make a network namespace inside a user namespace.
        unshare.arg("--map-root-user");
    }
    unshare
        .arg("--net")
        .arg("--")
        .arg(exe)
        .env(OUTER_NAMESPACE, namespace_id());
    unshare
}

fn cannot_unshare(e: std::io::Error) -> String {
    format!(
        "cannot run `unshare` ({e}): the SDK tests run in a network namespace of their own; \
         install util-linux (`apt-get install util-linux`)"
    )
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap_or_else(|e| {
        panic!("cannot run `ip` ({e}): install iproute2 (`apt-get install iproute2`)")
    });
    assert!(
        status.success(),
        "`ip {}` failed ({status})",
        args.join(" ")
    );
}

fn set_up_interfaces() {
    ip(&["link", "set", "lo", "up"]);
    // This kernel has no `dummy` interfaces; a veth pair whose ends are both up carries
    // an address like any Ethernet interface, which libwebrtc gathers candidates on.
    ip(&[
        "link",
        "add",
        INTERFACE,
        "type",
        "veth",
        "peer",
        "name",
        PEER_INTERFACE,
    ]);
    ip(&["addr", "add", &format!("{ADDRESS}/24"), "dev", INTERFACE]);
    ip(&["link", "set", INTERFACE, "up"]);
    ip(&["link", "set", PEER_INTERFACE, "up"]);
}
