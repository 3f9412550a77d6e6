//! The extent of one CBOR data item, found by a scan that never recurses,
//! and whether its value depends on its own bytes only.
//!
//! Foreign libraries hand the sinks arbitrary bytes. The scan checks that
//! they hold one well-formed item (RFC 8949, section 5.3.1) and finds where
//! it ends, with an explicit stack of open containers (on the heap past 16
//! levels): nesting deeper than [`MAX_NESTING`] is refused, and the scan
//! uses the same few hundred bytes of thread stack at any depth, so a
//! library thread with a small stack (64 KiB is common) survives hostile
//! input.
//!
//! # Self-contained items
//! The consumer decodes a run of consecutive payloads of one batch as one
//! CBOR sequence. Its decoder (cbor-x) gives a few tags a meaning that
//! reaches past their own item: shared references (28, 29), packed values
//! (6, 51 and the prefix and suffix ranges 216–223, 225–255, 27647–28671,
//! 28704–32767), bundled strings (14, 15 and 0xdff9), record definitions
//! and records (105 and everything from 0xdff9 up), and tag 259, which
//! switches the decoder's map mode. Its native string extractor also reads
//! ahead, past the item being decoded, and parses the heads of later byte
//! and text strings by itself: it takes an indefinite-length head as a
//! length of 31 and refuses 8-byte lengths, so such a string in a later
//! item would make an earlier one fail or read the wrong strings. An item
//! holding any of these is not *self-contained*: the consumer decodes it
//! on its own, so that no item can change, swallow or break another.

use smallvec::SmallVec;

use crate::foreign::Malformed;

/// The deepest nesting of arrays, maps, tags and indefinite-length strings
/// the scan accepts; deeper input is [`Malformed::TooDeep`].
pub const MAX_NESTING: usize = 256;

/// One well-formed item found at the start of some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    /// Its length in bytes.
    pub(crate) len: usize,
    /// Whether it holds no tag whose meaning depends on other items (see
    /// the module docs).
    pub(crate) self_contained: bool,
}

/// Whether the consumer's decoder reads tag `tag` without state shared
/// between items (see the module docs for the list and why).
pub(crate) fn is_self_contained_tag(tag: u64) -> bool {
    !matches!(
        tag,
        6 | 14 | 15 | 28 | 29 | 51 | 105 | 259 | 216..=223 | 225..=255 | 27647..
    )
}

/// An open container: what the items that follow belong to.
#[derive(Debug, Clone, Copy)]
enum Open {
    /// Items still owed to a definite-length array or map (a map owes two
    /// per pair), or to a tag (one).
    Definite(u64),
    /// An indefinite-length array; ends with a break.
    IndefiniteArray,
    /// An indefinite-length map; `odd` after a key without its value.
    IndefiniteMap { odd: bool },
    /// An indefinite-length byte (2) or text (3) string: definite chunks of
    /// the same major type, then a break.
    IndefiniteString(u8),
}

const BREAK: u8 = 0xff;

/// Scans the one item at the start of `bytes`; bytes after it are not
/// looked at.
///
/// # Errors
/// [`Malformed::Truncated`] when the bytes end inside the item,
/// [`Malformed::TooDeep`] past [`MAX_NESTING`], and
/// [`Malformed::NotWellFormed`] for any encoding RFC 8949 does not allow.
pub(crate) fn scan_item(bytes: &[u8]) -> Result<Item, Malformed> {
    // Payloads nest a few levels: the first 16 stay on the stack and cost
    // nothing to set up; deeper ones move to the heap, bounded by
    // `MAX_NESTING`.
    let mut open: SmallVec<[Open; 16]> = SmallVec::new();
    let mut at = 0usize;
    let mut self_contained = true;
    loop {
        let initial = *bytes.get(at).ok_or(Malformed::Truncated)?;
        at += 1;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if initial == BREAK {
            // A break closes the innermost indefinite-length container.
            match open.last() {
                Some(Open::IndefiniteArray)
                | Some(Open::IndefiniteMap { odd: false })
                | Some(Open::IndefiniteString(_)) => {
                    open.pop();
                }
                _ => return Err(Malformed::NotWellFormed),
            }
        } else {
            if let Some(&Open::IndefiniteString(chunks)) = open.last() {
                if major != chunks || info == 31 {
                    return Err(Malformed::NotWellFormed);
                }
            }
            let argument = match info {
                0..=23 => Some(u64::from(info)),
                24..=27 => {
                    let width = 1usize << (info - 24);
                    let field = bytes.get(at..at + width).ok_or(Malformed::Truncated)?;
                    at += width;
                    Some(field.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
                }
                31 if (2..=5).contains(&major) => None,
                _ => return Err(Malformed::NotWellFormed),
            };
            if (major == 2 || major == 3) && (info == 27 || info == 31) {
                // Heads the consumer's string extractor misreads (see the
                // module docs).
                self_contained = false;
            }
            let left = (bytes.len() - at) as u64;
            let opens = match (major, argument) {
                (0 | 1, _) => None,
                (2 | 3, Some(len)) => {
                    if len > left {
                        return Err(Malformed::Truncated);
                    }
                    at += len as usize;
                    None
                }
                (2 | 3, None) => Some(Open::IndefiniteString(major)),
                // Every item takes at least one byte: a count the bytes
                // cannot hold is truncated (and never overflows below).
                (4, Some(0)) | (5, Some(0)) => None,
                (4, Some(n)) if n <= left => Some(Open::Definite(n)),
                (5, Some(n)) if n <= left / 2 => Some(Open::Definite(2 * n)),
                (4 | 5, Some(_)) => return Err(Malformed::Truncated),
                (4, None) => Some(Open::IndefiniteArray),
                (5, None) => Some(Open::IndefiniteMap { odd: false }),
                (6, Some(tag)) => {
                    self_contained &= is_self_contained_tag(tag);
                    Some(Open::Definite(1))
                }
                // Simple values 0..=31 must use the one-byte form.
                (7, Some(simple)) if info == 24 && simple < 32 => {
                    return Err(Malformed::NotWellFormed)
                }
                (7, Some(_)) => None,
                _ => return Err(Malformed::NotWellFormed),
            };
            if let Some(container) = opens {
                if open.len() == MAX_NESTING {
                    return Err(Malformed::TooDeep);
                }
                open.push(container);
                continue;
            }
        }
        // An item just ended (a break ends its container): count it
        // against the containers it completes.
        loop {
            let Some(top) = open.last_mut() else {
                return Ok(Item {
                    len: at,
                    self_contained,
                });
            };
            match top {
                Open::Definite(owed) => {
                    *owed -= 1;
                    if *owed > 0 {
                        break;
                    }
                    open.pop();
                }
                Open::IndefiniteMap { odd } => {
                    *odd = !*odd;
                    break;
                }
                Open::IndefiniteArray | Open::IndefiniteString(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8]) -> Result<(usize, bool), Malformed> {
        scan_item(bytes).map(|item| (item.len, item.self_contained))
    }

    #[test]
    fn items_of_every_major_type_are_measured() {
        assert_eq!(scan(&[0x17]), Ok((1, true)));
        assert_eq!(scan(&[0x18, 0xff, 0x00]), Ok((2, true)));
        assert_eq!(scan(&[0x3b, 0, 0, 0, 0, 0, 0, 0, 1]), Ok((9, true)));
        assert_eq!(scan(&[0x43, 1, 2, 3, 9]), Ok((4, true)));
        assert_eq!(scan(&[0x62, b'h', b'i']), Ok((3, true)));
        assert_eq!(scan(&[0x82, 0x01, 0x81, 0x02]), Ok((4, true)));
        assert_eq!(scan(&[0xa1, 0x61, b'k', 0xf6]), Ok((4, true)));
        assert_eq!(scan(&[0xc1, 0x1a, 0, 0, 0, 1]), Ok((6, true)));
        assert_eq!(scan(&[0xf9, 0x3c, 0x00]), Ok((3, true)));
        assert_eq!(scan(&[0xf8, 0x20]), Ok((2, true)));
        // Indefinite lengths: array, map, chunked strings, empty ones.
        assert_eq!(scan(&[0x9f, 0x01, 0x9f, 0xff, 0xff]), Ok((5, true)));
        assert_eq!(scan(&[0xbf, 0x01, 0x02, 0xff]), Ok((4, true)));
        assert_eq!(scan(&[0x5f, 0x41, 7, 0x40, 0xff]), Ok((5, false)));
        assert_eq!(scan(&[0x7f, 0xff]), Ok((2, false)));
    }

    #[test]
    fn encodings_rfc_8949_forbids_are_not_well_formed() {
        for bad in [
            &[0x1c][..],               // reserved additional information
            &[0x3f],                   // indefinite integer
            &[0xdf, 0x01],             // indefinite tag
            &[0xff],                   // break outside a container
            &[0x82, 0xff, 0x00],       // break in a definite array
            &[0xbf, 0x01, 0xff],       // break after a key
            &[0x5f, 0x61, b'a', 0xff], // text chunk in a byte string
            &[0x5f, 0x5f, 0xff, 0xff], // indefinite chunk
            &[0xf8, 0x10],             // simple value in the two-byte form
            &[0xfc],                   // reserved simple encoding
        ] {
            assert_eq!(scan(bad), Err(Malformed::NotWellFormed), "{bad:02x?}");
        }
    }

    #[test]
    fn an_item_cut_short_is_truncated_and_huge_counts_do_not_overflow() {
        for cut in [
            &[][..],
            &[0x19, 0x01],
            &[0x43, 1, 2],
            &[0x82, 0x01],
            &[0x9f, 0x01],
            &[0xc1],
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(scan(cut), Err(Malformed::Truncated), "{cut:02x?}");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let mut at_limit = vec![0x81; MAX_NESTING];
        at_limit.push(0x00);
        assert_eq!(scan(&at_limit), Ok((MAX_NESTING + 1, true)));
        let mut past = vec![0x81; MAX_NESTING + 1];
        past.push(0x00);
        assert_eq!(scan(&past), Err(Malformed::TooDeep));
        let tags = vec![0xc1; MAX_NESTING + 1];
        assert_eq!(scan(&tags), Err(Malformed::TooDeep));
    }

    #[test]
    fn a_library_thread_with_a_64_kib_stack_survives_any_nesting() {
        let deep: Vec<u8> = std::iter::repeat([0x9f, 0xbf, 0xc1, 0x81])
            .take(250_000)
            .flatten()
            .collect();
        // { "eventType": "x", "payload": <1,000,000 levels> }
        let mut hostile = vec![0xa2, 0x69];
        hostile.extend_from_slice(b"eventType");
        hostile.extend_from_slice(&[0x61, b'x', 0x67]);
        hostile.extend_from_slice(b"payload");
        hostile.extend_from_slice(&deep);
        let outcome = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                (
                    scan(&deep),
                    crate::foreign::split_envelope(&hostile).err(),
                    crate::foreign::check_item(&deep).err(),
                )
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(outcome.0, Err(Malformed::TooDeep));
        assert_eq!(outcome.1, Some(Malformed::TooDeep));
        assert_eq!(outcome.2, Some(Malformed::TooDeep));
    }

    #[test]
    fn tags_and_strings_that_reach_past_their_item_mark_it_not_self_contained() {
        // tag 28 (shared value) inside an array.
        assert_eq!(scan(&[0x81, 0xd8, 0x1c, 0x01]), Ok((4, false)));
        // tag 0xdff9 (bundled strings), tag 0xe000 (a record).
        assert_eq!(scan(&[0xd9, 0xdf, 0xf9, 0x80]), Ok((4, false)));
        assert_eq!(scan(&[0xd9, 0xe0, 0x00, 0x81, 0x02]), Ok((5, false)));
        // Strings the decoder's extractor misreads when it reads ahead.
        assert_eq!(scan(&[0x7f, 0x61, b'a', 0xff]), Ok((4, false)));
        assert_eq!(scan(&[0x81, 0x5f, 0xff]), Ok((3, false)));
        assert_eq!(scan(&[0x7b, 0, 0, 0, 0, 0, 0, 0, 1, b'a']), Ok((10, false)));
        assert_eq!(scan(&[0x7a, 0, 0, 0, 1, b'a']), Ok((6, true)));
        for tag in [
            6u64,
            14,
            15,
            29,
            51,
            105,
            216,
            230,
            259,
            27647,
            30000,
            55799,
            u64::MAX,
        ] {
            assert!(!is_self_contained_tag(tag), "{tag}");
        }
        for tag in [0u64, 1, 2, 3, 4, 5, 27, 64, 87, 224, 256, 258, 260, 27646] {
            assert!(is_self_contained_tag(tag), "{tag}");
        }
    }
}
