//! Raw DEFLATE (RFC 1951, no zlib or gzip wrapper), as `CompressionStream('deflate-raw')`
//! produces it, with an output cap so a small input cannot expand without bound.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

pub use crate::limits::{COMPRESSION_MIN_BYTES, DEFAULT_COMPRESSION_LEVEL};

thread_local! {
    /// One compressor per thread, reset between messages: a fresh one allocates and zeroes
    /// hundreds of KB of tables, which cost a small call more than the whole protocol.
    static COMPRESSOR: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
    /// Likewise one decompressor for whole inline payloads.
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// Compresses `data` into one raw DEFLATE stream at `level` (0–9).
pub fn compress(data: &[u8], level: u32) -> Vec<u8> {
    let level = level.min(9);
    COMPRESSOR.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let compressor = match &mut *slot {
                Some((l, c)) if *l == level => {
                    c.reset();
                    c
                }
                other => {
                    &mut other
                        .insert((level, Compress::new(Compression::new(level), false)))
                        .1
                }
            };
            compress_with(compressor, data)
        }
        // Only reachable if compressing re-entered itself on this thread.
        Err(_) => compress_with(&mut Compress::new(Compression::new(level), false), data),
    })
}

fn compress_with(compressor: &mut Compress, mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let before_in = compressor.total_in();
        // Compressing into a Vec with spare room cannot fail.
        let Ok(status) = compressor.compress_vec(input, &mut out, FlushCompress::Finish) else {
            return out;
        };
        input = &input[(compressor.total_in() - before_in) as usize..];
        if status == Status::StreamEnd {
            return out;
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
    inner: Decompress,
    cap: u64,
    finished: bool,
}

impl Inflater {
    /// A decoder that refuses to produce more than `cap` bytes in total.
    pub fn new(cap: u64) -> Self {
        Self::with_state(Decompress::new(false), cap)
    }

    fn with_state(inner: Decompress, cap: u64) -> Self {
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
            let room = self.cap.saturating_sub(self.inner.total_out());
            let step = room.clamp(1, 64 * 1024) as usize;
            out.reserve(step);
            let before_in = self.inner.total_in();
            let before_out = self.inner.total_out();
            let status = self
                .inner
                .decompress_vec(input, &mut out, FlushDecompress::None)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
            let consumed = (self.inner.total_in() - before_in) as usize;
            input = &input[consumed..];
            if self.inner.total_out() > self.cap {
                return Err(InflateError::TooLarge);
            }
            match status {
                Status::StreamEnd => self.finished = true,
                Status::Ok | Status::BufError => {
                    let produced = self.inner.total_out() - before_out;
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
            let before_out = self.inner.total_out();
            out.reserve(64 * 1024);
            let status = self
                .inner
                .decompress_vec(&[], &mut out, FlushDecompress::Finish)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
            if self.inner.total_out() > self.cap {
                return Err(InflateError::TooLarge);
            }
            match status {
                Status::StreamEnd => self.finished = true,
                _ if self.inner.total_out() == before_out => return Err(InflateError::Truncated),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Decompresses a whole raw DEFLATE buffer, refusing to produce more than `cap` bytes.
pub fn decompress(data: &[u8], cap: u64) -> Result<Vec<u8>, InflateError> {
    let state = DECOMPRESSOR
        .with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.take()))
        .unwrap_or_else(|| Decompress::new(false));
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
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(matches!(
            decompress(&[0xff; 16], 1 << 20),
            Err(InflateError::Corrupt(_))
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
