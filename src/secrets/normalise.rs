//! The normaliser the secret scan (and the external-name check) reads input through.
//!
//! An accidental leak is often not the value as written: split across lines, wrapped base64,
//! `%HH` percent escapes (also applied twice, `%2563`), JSON `\uHHHH` escapes, numeric HTML
//! entities (`&#99;`, `&#x63;`). Normalising the input once — ASCII whitespace removed, those
//! escapes decoded — lets one set of plain patterns find all of them. A decoded `%`, `\` or `&`
//! is read again as the start of an escape, so an escape of an escape (`%2563`, `%5Cu0063`,
//! `&#38;#99;`) decodes to its byte however deep it is nested. Every encoded form the scanner
//! looks for is free of whitespace, `%`, `\` and `&`, so nothing that matched before
//! normalising stops matching after it.
//!
//! It sits on the scan's hot path (every byte Case wrote passes through it), so the stretch up
//! to the next `%`, `\` or `&` (found with `memchr3`) is compacted 64 bytes at a time from a
//! bitmask of where its whitespace is ([`lane_masks`]); only the escapes are handled a byte at
//! a time.

mod lane_masks;
#[cfg(test)]
mod properties;

use lane_masks::{LANE, whitespace_mask};

/// Bytes the fast loop sizes its output for at a time: small enough that sizing (zeroing) the
/// output for a step costs little when escapes make it stop early, large enough to be rare.
const BLOCK: usize = 4096;

/// `bytes` normalised: ASCII whitespace removed; `%HH`, JSON `\uHHHH` (ASCII) and numeric HTML
/// entities (`&#DDD;`, `&#xHH;`, ASCII) decoded, a decoded escape byte read again.
pub(crate) fn normalise(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut normaliser = Normaliser::default();
    normaliser.push(bytes, &mut out);
    normaliser.finish(&mut out);
    out
}

/// Most digits a numeric HTML entity may have (`&#` or `&#x`, digits, `;`), leading zeros
/// included: enough for any padding an encoder uses, and it bounds what a stream holds back.
const ENTITY_DIGITS: usize = 8;

/// Whether `byte` starts an escape.
fn starts_escape(byte: u8) -> bool {
    matches!(byte, b'%' | b'\\' | b'&')
}

/// What the bytes collected since an escape's first byte are, so far.
#[derive(Debug, PartialEq)]
enum Escape {
    /// Possibly an escape: more bytes decide.
    Open,
    /// Not an escape (the first byte stands for itself).
    NotOne,
    /// A complete escape of this byte.
    Decoded(u8),
    /// A complete escape of a character beyond ASCII: kept as written.
    KeptAsWritten,
}

/// Reads `escape` (its first byte is `%`, `\` or `&`; no whitespace in it).
fn read_escape(escape: &[u8]) -> Escape {
    let number = |digits: &[u8], radix: u32| {
        digits.iter().try_fold(0u32, |value, digit| {
            Some(value * radix + char::from(*digit).to_digit(radix)?)
        })
    };
    let ascii = |value: Option<u32>| match value {
        Some(value) if value < 0x80 => Escape::Decoded(value as u8),
        Some(_) => Escape::KeptAsWritten,
        None => Escape::NotOne,
    };
    match escape {
        [b'%', digits @ ..] => match number(digits, 16) {
            None => Escape::NotOne,
            Some(value) if digits.len() == 2 => Escape::Decoded(value as u8),
            Some(_) => Escape::Open,
        },
        [b'\\'] => Escape::Open,
        [b'\\', b'u', digits @ ..] => match number(digits, 16) {
            None => Escape::NotOne,
            value if digits.len() == 4 => ascii(value),
            Some(_) => Escape::Open,
        },
        [b'&'] | [b'&', b'#'] | [b'&', b'#', b'x' | b'X'] => Escape::Open,
        [b'&', b'#', rest @ ..] => {
            let (radix, digits) = match rest {
                [b'x' | b'X', digits @ ..] => (16, digits),
                _ => (10, rest),
            };
            match digits.split_last() {
                Some((b';', digits)) if !digits.is_empty() => ascii(number(digits, radix)),
                _ if digits.len() <= ENTITY_DIGITS && number(digits, radix).is_some() => Escape::Open,
                _ => Escape::NotOne,
            }
        }
        _ => Escape::NotOne,
    }
}

/// Normalises a stream chunk by chunk: holds an escape that may continue in the next chunk
/// (at most `&#x`, [`ENTITY_DIGITS`] digits and `;`).
#[derive(Default)]
pub(crate) struct Normaliser {
    escape: Vec<u8>,
}

impl Normaliser {
    /// Appends `bytes`, normalised, to `out` (an escape cut by the chunk's end is held back).
    pub(crate) fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() {
            if self.escape.is_empty() {
                let copied = copy_plain(bytes, out);
                bytes = &bytes[copied..];
                if bytes.is_empty() {
                    break;
                }
            }
            let byte = bytes[0];
            bytes = &bytes[1..];
            if !byte.is_ascii_whitespace() {
                self.take(byte, out);
            }
        }
    }

    /// Reads one byte (not whitespace): the start or the continuation of an escape, or itself.
    fn take(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.escape.is_empty() && !starts_escape(byte) {
            out.push(byte);
            return;
        }
        self.escape.push(byte);
        match read_escape(&self.escape) {
            Escape::Open => {}
            Escape::Decoded(value) => {
                self.escape.clear();
                // Read again: `%25` then `63` is `%63`, which is `c`.
                self.take(value, out);
            }
            Escape::KeptAsWritten => out.append(&mut self.escape),
            Escape::NotOne => {
                // The first byte stands for itself; the rest is read again (it may hold the
                // start of an escape).
                let rest = self.escape.split_off(1);
                out.append(&mut self.escape);
                for byte in rest {
                    self.take(byte, out);
                }
            }
        }
    }

    /// Appends what is still held back (an escape the input ended in) to `out`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.escape);
    }
}

/// Appends `bytes` without ASCII whitespace to `out`, up to the first byte that may start an
/// escape (`%`, `\`, `&`); returns how many bytes of `bytes` it consumed.
fn copy_plain(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    let mut consumed = 0;
    for block in bytes.chunks(BLOCK) {
        // The output is sized (zeroed) only up to the next escape: in escape-dense text (JSON
        // inside JSON, `\"` every few words) sizing it for the whole block each time cost more
        // than the copy.
        let plain = memchr::memchr3(b'%', b'\\', b'&', block).unwrap_or(block.len());
        let start = out.len();
        out.resize(start + plain, 0);
        let written = compact(&block[..plain], &mut out[start..]);
        out.truncate(start + written);
        if plain < block.len() {
            return consumed + plain;
        }
        consumed += block.len();
    }
    consumed
}

/// Copies `block` (which holds no escape) without ASCII whitespace to the start of `dest` (as
/// long as `block`). Returns how many bytes it wrote.
///
/// A lane of [`LANE`] bytes at a time: its mask says where the whitespace is, and the runs
/// between whitespace bytes are copied whole. A run's copy is a fixed 16 or 64 bytes
/// where both slices have room (the bytes past the run are overwritten by the next run or cut
/// off by the caller's truncate), so short runs cost a couple of moves instead of a `memcpy`.
/// `dest` keeps up: what is written never passes what is read, so room in `block` past a run
/// is room in `dest` past the write position too.
fn compact(block: &[u8], dest: &mut [u8]) -> usize {
    let mut written = 0;
    let mut lanes = block.chunks_exact(LANE);
    let mut lane_start = 0;
    for lane in &mut lanes {
        let mut array = [0u8; LANE];
        array.copy_from_slice(lane);
        let mut whitespace = whitespace_mask(&array);
        if whitespace == 0 {
            dest[written..written + LANE].copy_from_slice(lane);
            written += LANE;
            lane_start += LANE;
            continue;
        }
        let mut run_start = lane_start;
        loop {
            let run_end = lane_start
                + if whitespace == 0 {
                    LANE
                } else {
                    whitespace.trailing_zeros() as usize
                };
            let run = run_end - run_start;
            if run <= 16 && run_start + 16 <= block.len() {
                dest[written..written + 16].copy_from_slice(&block[run_start..run_start + 16]);
            } else if run_start + LANE <= block.len() {
                dest[written..written + LANE].copy_from_slice(&block[run_start..run_start + LANE]);
            } else {
                dest[written..written + run].copy_from_slice(&block[run_start..run_end]);
            }
            written += run;
            if whitespace == 0 {
                break;
            }
            run_start = run_end + 1;
            whitespace &= whitespace - 1;
        }
        lane_start += LANE;
    }
    for &byte in lanes.remainder() {
        dest[written] = byte;
        written += usize::from(!byte.is_ascii_whitespace());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_goes_and_escapes_are_decoded() {
        assert_eq!(normalise(b" a b\tc\r\nd "), b"abcd");
        assert_eq!(normalise(b"x%41y\\u0042z"), b"xAyBz");
        assert_eq!(normalise(b"100% \\n \\u12 %4"), b"100%\\n\\u12%4");
        assert_eq!(normalise(b"\\u00e9"), b"\\u00e9", "not ASCII: kept as written");
    }

    #[test]
    fn percent_encoding_applied_twice_or_more_is_decoded() {
        assert_eq!(normalise(b"%2563%2568%2563"), b"chc");
        assert_eq!(normalise(b"%25252563"), b"c", "four times");
        assert_eq!(
            normalise(b"%5Cu0063 \\u0025\n63"),
            b"cc",
            "a decoded `\\` or `%` starts an escape"
        );
        assert_eq!(normalise(b"100%25 of it, %25zz"), b"100%ofit,%zz");
    }

    #[test]
    fn numeric_html_entities_decimal_and_hex_mixed_are_decoded() {
        assert_eq!(normalise(b"&#99;&#x68;&#X63;&#0045;&#x0074;"), b"chc-t");
        assert_eq!(normalise(b"&#38;#99;"), b"c", "an entity of `&` is read again");
        assert_eq!(normalise(b"&#00000099;"), b"c", "eight digits");
        assert_eq!(
            normalise(b"a&amp;b &#; &#x; &#233; &#x20AC; &#000000099; &#99 &#x6g;"),
            b"a&amp;b&#;&#x;&#233;&#x20AC;&#000000099;&#99&#x6g;",
            "named, empty, beyond ASCII, too long, unterminated and broken ones are kept as written"
        );
    }

    #[test]
    fn an_escape_cut_by_a_chunk_boundary_is_decoded() {
        let input = b"ab%4\n1cd\\u00\n41 ef%25\n4\n1&#x4\n1;&#6\n5;&#38;#x41;";
        for split in 0..=input.len() {
            let mut normaliser = Normaliser::default();
            let mut out = Vec::new();
            normaliser.push(&input[..split], &mut out);
            normaliser.push(&input[split..], &mut out);
            normaliser.finish(&mut out);
            assert_eq!(out, b"abAcdAefAAAA", "split at {split}");
        }
    }

    #[test]
    fn every_special_byte_at_every_offset_is_handled_as_one_at_a_time_would() {
        // Over three lanes and a remainder, so both the lane loop and the tail see each one.
        let length = 3 * LANE + 5;
        for special in [b' ', b'\t', b'\n', 0x0c, b'\r', b'%', b'\\', b'&'] {
            for at in 0..length {
                let mut input = vec![b'q'; length];
                input[at] = special;
                input.extend_from_slice(b"%41 end");
                let expected: Vec<u8> = if special.is_ascii_whitespace() {
                    [&input[..at], &input[at + 1..length], b"Aend"].concat()
                } else {
                    [&input[..length], b"Aend"].concat()
                };
                assert_eq!(normalise(&input), expected, "{special:#x} at {at}");
            }
        }
    }

    #[test]
    fn long_input_is_compacted_across_blocks() {
        let input: Vec<u8> = (0..5 * BLOCK).map(|i| if i % 3 == 0 { b' ' } else { b'x' }).collect();
        let out = normalise(&input);
        assert_eq!(out.len(), input.iter().filter(|b| **b == b'x').count());
        assert!(out.iter().all(|b| *b == b'x'));
    }
}
