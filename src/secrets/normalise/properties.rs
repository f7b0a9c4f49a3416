//! Property tests of the normaliser: its fast lane loop, fed in arbitrary chunks, gives what
//! a plain byte-at-a-time reading of the rules gives, on input dense in whitespace, `%HH`
//! (also nested, `%2563`), `\uHHHH`, numeric HTML entities, broken escapes and lane boundaries.

use proptest::prelude::*;

use super::{ENTITY_DIGITS, LANE, Normaliser, normalise};

/// The rules read one byte at a time: drop ASCII whitespace, then decode `%HH`, `\uHHHH` and
/// `&#DDD;`/`&#xHH;` (the last two below 0x80, else kept as written) wherever they start, the
/// decoded byte taking the escape's place and being read again; anything else, broken escapes
/// included, stays as written.
fn reference(input: &[u8]) -> Vec<u8> {
    let mut kept: Vec<u8> = input
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    let mut out = Vec::new();
    let mut at = 0;
    while at < kept.len() {
        match escape_at(&kept[at..]) {
            Some((length, Some(value))) => {
                at += length - 1;
                kept[at] = value;
            }
            Some((length, None)) => {
                out.extend_from_slice(&kept[at..at + length]);
                at += length;
            }
            None => {
                out.push(kept[at]);
                at += 1;
            }
        }
    }
    out
}

/// The escape `text` starts with: its length and its byte (`None`: beyond ASCII, kept).
fn escape_at(text: &[u8]) -> Option<(usize, Option<u8>)> {
    let number = |digits: &[u8], radix: u32| {
        digits.iter().try_fold(0u32, |value, digit| {
            Some(value * radix + char::from(*digit).to_digit(radix)?)
        })
    };
    let ascii = |value: u32| (value < 0x80).then_some(value as u8);
    match text {
        [b'%', digits @ ..] if digits.len() >= 2 => Some((3, Some(number(&digits[..2], 16)? as u8))),
        [b'\\', b'u', digits @ ..] if digits.len() >= 4 => Some((6, ascii(number(&digits[..4], 16)?))),
        [b'&', b'#', rest @ ..] => {
            let (radix, prefix) = match rest.first() {
                Some(b'x' | b'X') => (16, 3),
                _ => (10, 2),
            };
            let digits = &text[prefix..];
            let count = digits
                .iter()
                .take_while(|digit| char::from(**digit).is_digit(radix))
                .count();
            if count == 0 || count > ENTITY_DIGITS || digits.get(count) != Some(&b';') {
                return None;
            }
            Some((prefix + count + 1, ascii(number(&digits[..count], radix)?)))
        }
        _ => None,
    }
}

/// Pieces that make input dense in what the normaliser treats specially.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-zA-Z0-9_=+/-]{1,40}".prop_map(String::into_bytes),
        3 => prop::collection::vec(prop::sample::select(vec![b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r']), 1..4),
        2 => "%[0-9a-fA-F]{2}".prop_map(String::into_bytes),
        2 => "\\\\u00[0-7][0-9a-fA-F]".prop_map(String::into_bytes),
        1 => "\\\\u[0-9a-fA-F]{4}".prop_map(String::into_bytes),
        2 => "(%25){1,3}[0-9a-fA-F]{2}".prop_map(String::into_bytes),
        2 => "&#0{0,3}[0-9]{1,3};".prop_map(String::into_bytes),
        2 => "&#[xX]0{0,3}[0-9a-fA-F]{1,3};".prop_map(String::into_bytes),
        1 => "(&#38;|%26|\\\\u0026)#[xX]?[0-9a-f]{1,2};".prop_map(String::into_bytes),
        // Broken or cut escapes, and escapes with whitespace inside them.
        2 => "&[#xX0-9a-f;&% \n]{0,5}".prop_map(String::into_bytes),
        1 => "&#[xX]?[0-9]{7,10};?".prop_map(String::into_bytes),
        2 => "%[0-9a-fA-F%\\\\ \n]{0,2}".prop_map(String::into_bytes),
        2 => "\\\\[u\\\\%\"n ]{0,2}[0-9a-fA-F \t]{0,4}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 1..8),
        // A long plain run, so whole lanes without whitespace occur too.
        1 => prop::collection::vec(prop::sample::select(b"abcdef0123456789".to_vec()), LANE..3 * LANE),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn normalising_in_one_piece_is_the_byte_at_a_time_reading(input in input()) {
        prop_assert_eq!(normalise(&input), reference(&input));
    }

    #[test]
    fn normalising_in_any_chunks_is_the_byte_at_a_time_reading(
        input in input(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut normaliser = Normaliser::default();
        let mut out = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            normaliser.push(&input[from..cut], &mut out);
            from = cut;
        }
        normaliser.finish(&mut out);
        prop_assert_eq!(out, reference(&input));
    }
}
