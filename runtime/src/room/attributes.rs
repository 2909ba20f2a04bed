//! Participant attributes as LiveKit has them: string keys and values, updated by merging
//! changes (an empty value deletes its key), at most 64 KiB in all.

use std::collections::HashMap;

pub use crate::error::AttributesError;

/// The most a participant's attributes may take in all (keys plus values, in bytes), as
/// LiveKit limits them.
pub const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

/// Keys starting with this are LiveKit's own.
pub const RESERVED_ATTRIBUTE_PREFIX: &str = "lk.";

/// The total size LiveKit counts: every key and value, in bytes.
pub fn attributes_size(attributes: &HashMap<String, String>) -> usize {
    attributes.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// `current` with `changes` applied: a non-empty value sets its key, an empty one deletes
/// it. Fails, changing nothing, when the result would be over the limit.
pub fn merge_attributes(
    current: &HashMap<String, String>,
    changes: &HashMap<String, String>,
) -> Result<HashMap<String, String>, AttributesError> {
    if changes.keys().any(String::is_empty) {
        return Err(AttributesError::EmptyKey);
    }
    let mut merged = current.clone();
    for (key, value) in changes {
        if value.is_empty() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    let bytes = attributes_size(&merged);
    if bytes > MAX_ATTRIBUTES_BYTES {
        return Err(AttributesError::TooLarge {
            bytes,
            max: MAX_ATTRIBUTES_BYTES,
        });
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn empty_values_delete_and_others_set() {
        let merged = merge_attributes(
            &map(&[("a", "1"), ("b", "2")]),
            &map(&[("a", ""), ("c", "3")]),
        )
        .unwrap();
        assert_eq!(merged, map(&[("b", "2"), ("c", "3")]));
    }

    #[test]
    fn the_limit_counts_keys_and_values_after_the_merge() {
        let big = "x".repeat(MAX_ATTRIBUTES_BYTES - 1);
        assert!(merge_attributes(&HashMap::new(), &map(&[("k", &big)])).is_ok());
        let over = merge_attributes(&map(&[("k", &big)]), &map(&[("j", "y")])).unwrap_err();
        assert_eq!(
            over,
            AttributesError::TooLarge {
                bytes: MAX_ATTRIBUTES_BYTES + 2,
                max: MAX_ATTRIBUTES_BYTES
            }
        );
        // Replacing the big value makes room again.
        assert!(merge_attributes(&map(&[("k", &big)]), &map(&[("k", ""), ("j", "y")])).is_ok());
    }
}
