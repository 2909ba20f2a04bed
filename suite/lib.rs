//! Nothing here: this package only holds the test suite (`../tests`) and the benchmarks
//! (`../benches`) of livekit-typed-rpc, so their dependencies stay out of the library's
//! examples.
