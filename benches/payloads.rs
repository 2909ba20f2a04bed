//! The payloads the link benchmarks send (`shaped_link.rs`, and `real_server.rs` and
//! `sdk_peers.rs` in sfu-tests): JSON records, base64 of random bytes, random bytes. Seeded, so every run
//! sends the same bytes.

/// A seeded xorshift generator.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// JSON records whose values vary as telemetry's do (DEFLATE at level 1 shrinks it about
/// 4x, not the hundredfold of one repeated record).
#[allow(dead_code)] // sdk_peers.rs sends letters and base64 only
pub fn json_records(size: usize, noise: &mut Noise) -> String {
    let mut out = String::with_capacity(size + 128);
    let mut id = 0u64;
    while out.len() < size {
        let r = noise.next_u64();
        out.push_str(&format!(
            r#"{{"id":{id},"joint":{},"angle":{:.3},"load":{:.4},"ok":{}}},"#,
            r % 7,
            (r >> 8) as f64 % 90_000.0 / 1000.0,
            (r >> 24) as f64 % 1_000_000.0 / 1_000_000.0,
            r & 1 == 0
        ));
        id += 1;
    }
    out.truncate(size);
    out
}

/// base64 of random bytes, as media or already-compressed data travels in a string.
pub fn base64_of_random(size: usize, noise: &mut Noise) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..size)
        .map(|_| ALPHABET[(noise.next_u64() >> 58) as usize] as char)
        .collect()
}

/// Random bytes: what no compressor can shrink.
#[allow(dead_code)] // shaped_link.rs and real_server.rs; not sdk_peers.rs
pub fn random_bytes(size: usize, noise: &mut Noise) -> Vec<u8> {
    (0..size).map(|_| (noise.next_u64() >> 56) as u8).collect()
}
