//! Property tests of the normaliser: its fast lane loop, fed in arbitrary chunks, gives what
//! a plain byte-at-a-time reading of the rules gives, on input dense in whitespace, `%HH`,
//! `\uHHHH`, broken escapes and lane boundaries.

use proptest::prelude::*;

use super::{LANE, Normaliser, normalise};

/// The rules read one byte at a time: drop ASCII whitespace, then decode `%HH` and `\uHHHH`
/// (below 0x80) wherever they start; anything else, broken escapes included, stays as written.
fn reference(input: &[u8]) -> Vec<u8> {
    let kept: Vec<u8> = input
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    let hex_at = |from: usize, count: usize| {
        kept.get(from..from + count)
            .filter(|digits| digits.iter().all(u8::is_ascii_hexdigit))
            .map(|digits| {
                digits.iter().fold(0u32, |value, digit| {
                    value * 16 + char::from(*digit).to_digit(16).unwrap_or(0)
                })
            })
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < kept.len() {
        match kept[at] {
            b'%' => {
                if let Some(value) = hex_at(at + 1, 2) {
                    out.push(value as u8);
                    at += 3;
                    continue;
                }
            }
            b'\\' if kept.get(at + 1) == Some(&b'u') => {
                if let Some(value) = hex_at(at + 2, 4).filter(|value| *value < 0x80) {
                    out.push(value as u8);
                    at += 6;
                    continue;
                }
            }
            _ => {}
        }
        out.push(kept[at]);
        at += 1;
    }
    out
}

/// Pieces that make input dense in what the normaliser treats specially.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-zA-Z0-9_=+/-]{1,40}".prop_map(String::into_bytes),
        3 => prop::collection::vec(prop::sample::select(vec![b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r']), 1..4),
        2 => "%[0-9a-fA-F]{2}".prop_map(String::into_bytes),
        2 => "\\\\u00[0-7][0-9a-fA-F]".prop_map(String::into_bytes),
        1 => "\\\\u[0-9a-fA-F]{4}".prop_map(String::into_bytes),
        // Broken or cut escapes, and escapes with whitespace inside them.
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
