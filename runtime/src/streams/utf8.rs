//! UTF-8 framing: splitting text into chunks on character boundaries (a wire requirement,
//! since receivers decode every chunk on its own) and re-framing a byte stream into text.

/// Splits `bytes` (valid UTF-8) into pieces of at most `max` bytes, each starting on a
/// character boundary. `max` must be at least 4.
pub fn split_utf8(bytes: &[u8], max: usize) -> Vec<&[u8]> {
    debug_assert!(max >= 4);
    let mut pieces = Vec::with_capacity(bytes.len() / max + 1);
    let mut rest = bytes;
    while rest.len() > max {
        let mut cut = max;
        while cut > 0 && (rest[cut] & 0b1100_0000) == 0b1000_0000 {
            cut -= 1;
        }
        if cut == 0 {
            // Not UTF-8 at all; cut blindly rather than loop forever.
            cut = max;
        }
        let (head, tail) = rest.split_at(cut);
        pieces.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// Turns arbitrary byte pieces into complete UTF-8 strings, carrying a split character
/// over to the next piece; fails on bytes that can never become UTF-8.
#[derive(Default, Debug)]
pub struct Utf8Reframer {
    carry: Vec<u8>,
}

impl Utf8Reframer {
    /// Feeds bytes; returns the text that is complete so far. Each byte is validated once
    /// and a piece is only copied when a split character has to be joined to it.
    pub fn push(&mut self, mut bytes: Vec<u8>) -> Result<String, std::str::Utf8Error> {
        if !self.carry.is_empty() {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&bytes);
            bytes = joined;
        }
        let tail = incomplete_tail(&bytes);
        self.carry = bytes.split_off(bytes.len() - tail);
        String::from_utf8(bytes).map_err(|e| e.utf8_error())
    }

    /// Ends the input; fails if a character was left incomplete.
    pub fn finish(&mut self) -> Result<(), ()> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(())
        }
    }
}

/// Length of a character begun but not finished at the end of `bytes` (0 to 3).
fn incomplete_tail(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=n.min(3) {
        let byte = bytes[n - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let needed = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_char_boundaries() {
        let text = "aé€😀".repeat(5000);
        let pieces = split_utf8(text.as_bytes(), 15_000);
        assert!(pieces.iter().all(|p| p.len() <= 15_000));
        assert!(pieces.iter().all(|p| std::str::from_utf8(p).is_ok()));
        assert_eq!(pieces.concat(), text.as_bytes());
    }

    #[test]
    fn reframer_carries_split_characters() {
        let text = "x😀y";
        let b = text.as_bytes();
        let mut r = Utf8Reframer::default();
        let mut out = r.push(b[..2].to_vec()).unwrap();
        out += &r.push(b[2..4].to_vec()).unwrap();
        out += &r.push(b[4..].to_vec()).unwrap();
        assert!(r.finish().is_ok());
        assert_eq!(out, text);
        assert!(Utf8Reframer::default().push(vec![0xff]).is_err());
        // A truncated character at the very end is only an error when the input ends.
        let mut r = Utf8Reframer::default();
        assert_eq!(r.push(vec![b'a', 0xe2, 0x82]).unwrap(), "a");
        assert!(r.finish().is_err());
    }
}
