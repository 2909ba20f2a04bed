//! Compile-time checks of `#[livekit_rpc]`: every rejected signature fails with a spanned
//! error on the user's code (expected output in `tests/ui/fail/*.stderr`), and the pass
//! cases compile and run.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("../tests/ui/fail/*.rs");
    t.pass("../tests/ui/pass/*.rs");
}
