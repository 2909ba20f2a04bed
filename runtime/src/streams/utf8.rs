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
    /// Feeds bytes; returns the text that is complete so far.
    pub fn push(&mut self, bytes: &[u8]) -> Result<String, std::str::Utf8Error> {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(bytes);
        match std::str::from_utf8(&buf) {
            Ok(_) => Ok(String::from_utf8(buf).unwrap_or_default()),
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                self.carry = buf.split_off(valid);
                Ok(String::from_utf8(buf).unwrap_or_default())
            }
            Err(e) => Err(e),
        }
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
        let mut out = r.push(&b[..2]).unwrap();
        out += &r.push(&b[2..4]).unwrap();
        out += &r.push(&b[4..]).unwrap();
        assert!(r.finish().is_ok());
        assert_eq!(out, text);
        assert!(Utf8Reframer::default().push(&[0xff]).is_err());
    }
}
