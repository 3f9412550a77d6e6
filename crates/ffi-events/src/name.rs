//! Event name validation.

use crate::error::NameError;

/// The longest event name accepted, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 255;

/// Checks that `name` can be used as an event name.
///
/// A valid name is 1 to [`MAX_NAME_BYTES`] bytes of UTF-8 without NUL bytes.
///
/// # Errors
/// Returns the [`NameError`] that says which rule the name breaks.
///
/// # Examples
/// ```
/// use ffi_events::{validate_name, NameError};
/// assert_eq!(validate_name("peer_connected"), Ok(()));
/// assert_eq!(validate_name(""), Err(NameError::Empty));
/// assert_eq!(validate_name("a\0b"), Err(NameError::ContainsNul));
/// ```
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong { len: name.len() });
    }
    if name.as_bytes().contains(&0) {
        return Err(NameError::ContainsNul);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_up_to_the_limit_are_accepted_and_longer_ones_refused() {
        assert_eq!(validate_name(&"x".repeat(MAX_NAME_BYTES)), Ok(()));
        assert_eq!(
            validate_name(&"x".repeat(MAX_NAME_BYTES + 1)),
            Err(NameError::TooLong { len: 256 })
        );
    }

    #[test]
    fn the_limit_counts_bytes_not_characters() {
        // 128 two-byte characters are 256 bytes.
        let name = "é".repeat(128);
        assert_eq!(validate_name(&name), Err(NameError::TooLong { len: 256 }));
    }
}
