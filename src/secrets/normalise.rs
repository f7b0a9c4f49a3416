//! The normaliser the secret scan (and the external-name check) reads input through.
//!
//! An accidental leak is often not the value as written: split across lines, wrapped base64,
//! `%HH` percent escapes, JSON `\uHHHH` escapes. Normalising the input once — ASCII whitespace
//! removed, those escapes decoded — lets one set of plain patterns find all of them. Every
//! encoded form the scanner looks for is free of whitespace, `%` and `\`, so nothing that
//! matched before normalising stops matching after it.
//!
//! It sits on the scan's hot path (every byte Case wrote passes through it), so ordinary
//! bytes are compacted by a branch-free table loop; only `%` and `\` leave that loop.

/// What the fast loop does with a byte: drop it (whitespace), keep it, or stop (an escape).
const DROP: u8 = 0;
const KEEP: u8 = 1;
const ESCAPE: u8 = 2;

/// [`DROP`], [`KEEP`] or [`ESCAPE`] for each byte value.
static CLASS: [u8; 256] = {
    let mut table = [KEEP; 256];
    let mut byte = 0;
    while byte < 256 {
        let value = byte as u8;
        if value.is_ascii_whitespace() {
            table[byte] = DROP;
        } else if value == b'%' || value == b'\\' {
            table[byte] = ESCAPE;
        }
        byte += 1;
    }
    table
};

/// Bytes the fast loop handles per step: small enough that sizing the output for a step costs
/// nothing, large enough that the loop rarely leaves its inner part.
const BLOCK: usize = 512;

/// `bytes` normalised: ASCII whitespace removed, `%HH` and JSON `\uHHHH` (ASCII) decoded.
pub(crate) fn normalise(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut normaliser = Normaliser::default();
    normaliser.push(bytes, &mut out);
    normaliser.finish(&mut out);
    out
}

/// Normalises a stream chunk by chunk: holds an escape that may continue in the next chunk.
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
            if byte.is_ascii_whitespace() {
                continue;
            }
            if self.escape.is_empty() {
                if byte == b'%' || byte == b'\\' {
                    self.escape.push(byte);
                } else {
                    out.push(byte);
                }
                continue;
            }
            self.escape.push(byte);
            self.settle(out);
        }
    }

    /// Decodes or gives up on the escape collected so far, once that is decidable.
    fn settle(&mut self, out: &mut Vec<u8>) {
        let escape = &self.escape;
        let hex_tail_ok = |from: usize| escape[from..].iter().all(u8::is_ascii_hexdigit);
        let (complete, valid) = match escape[0] {
            b'%' => (escape.len() == 3, hex_tail_ok(1)),
            _ if escape.len() >= 2 && escape[1] != b'u' => (true, false),
            _ => (escape.len() == 6, escape.len() < 2 || hex_tail_ok(2)),
        };
        if !valid {
            // Not an escape: emit the first byte as is and rescan the rest.
            let rest = self.escape.split_off(1);
            out.append(&mut self.escape);
            for byte in rest {
                if self.escape.is_empty() && byte != b'%' && byte != b'\\' {
                    out.push(byte);
                } else {
                    self.escape.push(byte);
                    if self.escape.len() > 1 {
                        self.settle(out);
                    }
                }
            }
            return;
        }
        if complete {
            let digits = if escape[0] == b'%' { &escape[1..] } else { &escape[2..] };
            let value = std::str::from_utf8(digits)
                .ok()
                .and_then(|digits| u32::from_str_radix(digits, 16).ok())
                .unwrap_or(u32::MAX);
            if escape[0] == b'%' || value < 0x80 {
                out.push(value as u8);
            } else {
                out.extend_from_slice(escape);
            }
            self.escape.clear();
        }
    }

    /// Appends what is still held back (an escape the input ended in) to `out`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.escape);
    }
}

/// Appends `bytes` without ASCII whitespace to `out`, up to the first `%` or `\`; returns how
/// many bytes of `bytes` it consumed. Eight bytes are tested at once (see [`may_be_special`]):
/// a word with none to drop or stop at is copied whole; any other word byte by byte, each
/// written and the write position advanced only for a kept one.
fn copy_plain(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    let mut consumed = 0;
    for block in bytes.chunks(BLOCK) {
        let start = out.len();
        out.resize(start + block.len(), 0);
        let dest = &mut out[start..];
        let mut written = 0;
        let words = block.chunks_exact(8);
        let tail = words.remainder();
        for (index, word) in words.enumerate() {
            let value = u64::from_le_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
            if !may_be_special(value) {
                dest[written..written + 8].copy_from_slice(word);
                written += 8;
                continue;
            }
            for (offset, &byte) in word.iter().enumerate() {
                let class = CLASS[usize::from(byte)];
                if class == ESCAPE {
                    out.truncate(start + written);
                    return consumed + index * 8 + offset;
                }
                dest[written] = byte;
                written += usize::from(class);
            }
        }
        let tail_start = block.len() - tail.len();
        for (offset, &byte) in tail.iter().enumerate() {
            let class = CLASS[usize::from(byte)];
            if class == ESCAPE {
                out.truncate(start + written);
                return consumed + tail_start + offset;
            }
            dest[written] = byte;
            written += usize::from(class);
        }
        out.truncate(start + written);
        consumed += block.len();
    }
    consumed
}

/// Whether any of the eight bytes of `word` may be whitespace, `%` or `\` (SWAR): a byte
/// ≤ 0x20 (every ASCII whitespace is), or equal to 0x25 or 0x5C. False positives (other
/// control bytes, bytes ≥ 0x80) only send the word down the byte-by-byte path.
fn may_be_special(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The classic "has a byte less than n" and "has a zero byte" tests, by subtraction.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS;
    below(word, 0x21) != 0 || below(word ^ (ONES * 0x25), 1) != 0 || below(word ^ (ONES * 0x5C), 1) != 0
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
    fn an_escape_cut_by_a_chunk_boundary_is_decoded() {
        let input = b"ab%4\n1cd\\u00\n41 ef";
        for split in 0..=input.len() {
            let mut normaliser = Normaliser::default();
            let mut out = Vec::new();
            normaliser.push(&input[..split], &mut out);
            normaliser.push(&input[split..], &mut out);
            normaliser.finish(&mut out);
            assert_eq!(out, b"abAcdAef", "split at {split}");
        }
    }

    #[test]
    fn the_word_test_sees_every_special_byte_in_every_position() {
        for special in [b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c, b'%', b'\\'] {
            for position in 0..8 {
                let mut word = *b"abcdefgh";
                word[position] = special;
                assert!(may_be_special(u64::from_le_bytes(word)), "{special:#x} at {position}");
            }
        }
        assert!(!may_be_special(u64::from_le_bytes(*b"ab-_/+=Z")));
    }

    #[test]
    fn every_special_byte_at_every_offset_is_handled_as_one_at_a_time_would() {
        for special in [b' ', b'\n', b'%', b'\\'] {
            for at in 0..40 {
                let mut input = vec![b'q'; 40];
                input[at] = special;
                input.extend_from_slice(b"%41 end");
                let expected: Vec<u8> = if special.is_ascii_whitespace() {
                    [&input[..at], &input[at + 1..40], b"Aend"].concat()
                } else {
                    [&input[..40], b"Aend"].concat()
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
