//! Raw DEFLATE (RFC 1951, no zlib or gzip wrapper), as `CompressionStream('deflate-raw')`
//! produces it, with an output cap so a small input cannot expand without bound.

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress, Status};
use zlib_rs::{Inflate, InflateFlush, Status as InflateStatus};

pub use crate::limits::{
    COMPRESSION_MIN_BYTES, COMPRESSION_MIN_SAVING_PERCENT, COMPRESSION_PROBE_BYTES,
    DEFAULT_COMPRESSION_LEVEL,
};

thread_local! {
    /// One compressor per thread, reset between messages: a fresh one allocates and zeroes
    /// hundreds of KB of tables, which cost a small call more than the whole protocol.
    static COMPRESSOR: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
    /// Likewise one decompressor for whole inline payloads.
    static DECOMPRESSOR: RefCell<Option<Inflate>> = const { RefCell::new(None) };
}

/// An incremental raw-DEFLATE encoder that borrows this thread's cached compressor and
/// gives it back when dropped, so a payload can be compressed piece by piece between
/// sends (possibly on another thread) without allocating fresh tables.
pub struct Deflater {
    level: u32,
    inner: Option<Compress>,
}

impl Deflater {
    /// An encoder at `level` (0–9, higher is clamped).
    pub fn new(level: u32) -> Self {
        let level = level.min(9);
        let cached = COMPRESSOR.with(|cell| {
            cell.try_borrow_mut()
                .ok()
                .and_then(|mut slot| slot.take_if(|(l, _)| *l == level))
        });
        let inner = match cached {
            Some((_, mut c)) => {
                c.reset();
                c
            }
            None => Compress::new(Compression::new(level), false),
        };
        Self {
            level,
            inner: Some(inner),
        }
    }

    /// Compresses `input` onto the end of `out`; `finish` ends the stream after it. The
    /// bytes produced do not depend on how the input is split between calls.
    pub fn feed(&mut self, mut input: &[u8], finish: bool, out: &mut Vec<u8>) {
        let Some(d) = self.inner.as_mut() else { return };
        let flush = if finish {
            FlushCompress::Finish
        } else {
            FlushCompress::None
        };
        loop {
            if out.capacity() - out.len() < 16 * 1024 {
                out.reserve((out.capacity() / 2).max(64 * 1024));
            }
            let (before_in, before_out) = (d.total_in(), d.total_out());
            // Compressing into a Vec with spare room cannot fail.
            let Ok(status) = d.compress_vec(input, out, flush) else {
                return;
            };
            input = &input[(d.total_in() - before_in) as usize..];
            let progressed = d.total_in() != before_in || d.total_out() != before_out;
            match status {
                Status::StreamEnd => return,
                _ if !finish && input.is_empty() => return,
                _ if !progressed => return,
                _ => {}
            }
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let level = self.level;
            // The most recently used level is the one kept. Fails only while the thread is
            // being torn down; the compressor is then freed.
            let _ = COMPRESSOR.try_with(|cell| {
                if let Ok(mut slot) = cell.try_borrow_mut() {
                    *slot = Some((level, inner));
                }
            });
        }
    }
}

/// Why inflating failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// The output would exceed the cap.
    TooLarge,
    /// The input is not raw DEFLATE.
    Corrupt(String),
    /// The input ended before the DEFLATE stream did.
    Truncated,
}

/// Incremental raw-DEFLATE decoder with a running cap on the output size.
pub struct Inflater {
    inner: Inflate,
    cap: u64,
    finished: bool,
}

impl Inflater {
    /// A decoder that refuses to produce more than `cap` bytes in total.
    pub fn new(cap: u64) -> Self {
        Self::with_state(fresh_inflate(), cap)
    }

    fn with_state(inner: Inflate, cap: u64) -> Self {
        Self {
            inner,
            cap,
            finished: false,
        }
    }

    /// Feeds compressed bytes; returns what they decompress to.
    pub fn push(&mut self, mut input: &[u8]) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        while !input.is_empty() && !self.finished {
            let before_in = self.inner.total_in();
            let (status, produced) = self.step(input, &mut out, InflateFlush::NoFlush)?;
            let consumed = (self.inner.total_in() - before_in) as usize;
            input = &input[consumed..];
            match status {
                InflateStatus::StreamEnd => self.finished = true,
                InflateStatus::Ok | InflateStatus::BufError => {
                    if consumed == 0 && produced == 0 {
                        if self.inner.total_out() >= self.cap {
                            return Err(InflateError::TooLarge);
                        }
                        return Err(InflateError::Corrupt("decoder made no progress".into()));
                    }
                }
            }
        }
        if !input.is_empty() && self.finished {
            return Err(InflateError::Corrupt(
                "data after the end of the DEFLATE stream".into(),
            ));
        }
        Ok(out)
    }

    /// Flushes what is still buffered and checks the stream really ended.
    pub fn finish(&mut self) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        while !self.finished {
            match self.step(&[], &mut out, InflateFlush::Finish)? {
                (InflateStatus::StreamEnd, _) => self.finished = true,
                (_, 0) => return Err(InflateError::Truncated),
                _ => {}
            }
        }
        Ok(out)
    }

    /// One decoder call appending to `out`, with the cap checked; returns the status and
    /// how many bytes it produced.
    fn step(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        flush: InflateFlush,
    ) -> Result<(InflateStatus, usize), InflateError> {
        // Room for one byte past the cap, so going over it is seen rather than stalling;
        // growing geometrically from a guess keeps the zeroing to about what is written.
        let room = self
            .cap
            .saturating_sub(self.inner.total_out())
            .saturating_add(1);
        let guess = out.len().max(4 * input.len()).clamp(16 * 1024, 1024 * 1024);
        let start = out.len();
        out.resize(start + room.min(guess as u64) as usize, 0);
        let before_out = self.inner.total_out();
        let status = self.inner.decompress(input, &mut out[start..], flush);
        let produced = (self.inner.total_out() - before_out) as usize;
        out.truncate(start + produced);
        let status = status.map_err(|e| {
            InflateError::Corrupt(self.inner.error_message().unwrap_or(e.as_str()).to_owned())
        })?;
        if self.inner.total_out() > self.cap {
            return Err(InflateError::TooLarge);
        }
        Ok((status, produced))
    }
}

fn fresh_inflate() -> Inflate {
    // Raw DEFLATE (no zlib header) with the 32 KiB window every encoder may use.
    Inflate::new(false, 15)
}

/// Decompresses a whole raw DEFLATE buffer, refusing to produce more than `cap` bytes.
pub fn decompress(data: &[u8], cap: u64) -> Result<Vec<u8>, InflateError> {
    let state = DECOMPRESSOR
        .with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.take()))
        .unwrap_or_else(fresh_inflate);
    let mut inflater = Inflater::with_state(state, cap);
    let result = inflater.push(data).and_then(|mut out| {
        out.extend(inflater.finish()?);
        Ok(out)
    });
    let mut state = inflater.inner;
    state.reset(false);
    DECOMPRESSOR.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(state);
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(data: &[u8], level: u32) -> Vec<u8> {
        let mut out = Vec::new();
        Deflater::new(level).feed(data, true, &mut out);
        out
    }

    /// Sending compresses a large payload piece by piece between chunks; the receiver (and
    /// the reference SDK's one-shot `deflate-raw`) must see the same single stream.
    #[test]
    fn piecewise_feeding_produces_the_same_stream() {
        let json: Vec<u8> = (0..40_000u32)
            .flat_map(|i| {
                format!("{{\"sensor\":\"t-{}\",\"v\":{}}},", i % 97, i * 7 % 1000).into_bytes()
            })
            .collect();
        for level in [1, 6, 9] {
            let whole = compress(&json, level);
            for piece in [777, 64 * 1024] {
                let mut d = Deflater::new(level);
                let mut out = Vec::new();
                let mut pieces = json.chunks(piece).peekable();
                while let Some(p) = pieces.next() {
                    d.feed(p, pieces.peek().is_none(), &mut out);
                }
                assert_eq!(out, whole, "level {level}, pieces of {piece} bytes");
            }
            assert_eq!(decompress(&whole, u64::MAX).unwrap(), json);
        }
    }

    #[test]
    fn round_trips_without_wrapper() {
        let data = b"hello hello hello hello".repeat(100);
        let c = compress(&data, DEFAULT_COMPRESSION_LEVEL);
        assert!(c.len() < data.len());
        // A zlib stream starts with 0x78; raw DEFLATE does not carry that header.
        assert_ne!(c[0], 0x78);
        assert_eq!(decompress(&c, 1 << 20).unwrap(), data);
    }

    #[test]
    fn caps_output() {
        let bomb = compress(&vec![0u8; 10 << 20], 6);
        assert_eq!(decompress(&bomb, 1 << 20), Err(InflateError::TooLarge));
        // The cap is inclusive, whole or fed in packet-sized pieces.
        let exact = compress(&vec![7u8; 100_000], 1);
        assert_eq!(decompress(&exact, 100_000).map(|v| v.len()), Ok(100_000));
        assert_eq!(decompress(&exact, 99_999), Err(InflateError::TooLarge));
        let mut inflater = Inflater::new(100_000);
        let mut total = 0;
        for piece in exact.chunks(10) {
            total += inflater.push(piece).unwrap().len();
        }
        total += inflater.finish().unwrap().len();
        assert_eq!(total, 100_000);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        // The decoder's own reason reaches the error (a reserved block type here).
        assert!(matches!(
            decompress(&[0xff; 16], 1 << 20),
            Err(InflateError::Corrupt(reason)) if reason.contains("invalid block type")
        ));
        let c = compress(&b"abcdefgh".repeat(1000), 9);
        assert_eq!(
            decompress(&c[..c.len() / 2], 1 << 20),
            Err(InflateError::Truncated)
        );
    }

    #[test]
    fn incremental_equals_whole() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let c = compress(&data, DEFAULT_COMPRESSION_LEVEL);
        let mut inf = Inflater::new(u64::MAX);
        let mut out = Vec::new();
        for piece in c.chunks(777) {
            out.extend(inf.push(piece).unwrap());
        }
        out.extend(inf.finish().unwrap());
        assert_eq!(out, data);
    }
}
