//! Holds the compile-time checks of `#[livekit_rpc]` (`tests/ui`), so that trybuild builds
//! them against the runtime and the few crates they use, not the runtime's whole test
//! toolbox. Nothing here is meant to be used.
