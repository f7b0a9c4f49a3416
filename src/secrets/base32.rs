//! RFC 4648 base32 (`A`–`Z`, `2`–`7`), encoding only, without padding: the secret scan looks
//! for the base32 form of each secret. The scan needs just this one direction and no padding
//! (it searches for the characters inside an encoded stream), so a few lines replace a crate.

/// The RFC 4648 base32 alphabet.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `bytes` in base32, upper case, without `=` padding; a last group of fewer than five bits
/// is filled with zero bits, as RFC 4648 says.
pub(super) fn encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((bytes.len() * 8).div_ceil(5));
    let mut bits: u16 = 0;
    let mut held = 0u32;
    for &byte in bytes {
        bits = (bits << 8) | u16::from(byte);
        held += 8;
        while held >= 5 {
            held -= 5;
            out.push(ALPHABET[usize::from((bits >> held) & 0x1f)]);
        }
        bits &= (1 << held) - 1;
    }
    if held > 0 {
        out.push(ALPHABET[usize::from((bits << (5 - held)) & 0x1f)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of RFC 4648, section 10, padding removed.
    #[test]
    fn the_rfc_4648_test_vectors() {
        for (input, padded) in [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(
                encode(input.as_bytes()),
                padded.trim_end_matches('=').as_bytes(),
                "{input}"
            );
        }
    }

    #[test]
    fn every_byte_value_survives_in_its_five_bits() {
        let all: Vec<u8> = (0..=255).collect();
        let encoded = encode(&all);
        assert_eq!(encoded.len(), (all.len() * 8).div_ceil(5));
        // Decoding by hand gives the bytes back.
        let mut bits = 0u32;
        let mut held = 0;
        let mut decoded = Vec::new();
        for character in encoded {
            let value = ALPHABET.iter().position(|c| *c == character).expect("in the alphabet") as u32;
            bits = (bits << 5) | value;
            held += 5;
            if held >= 8 {
                held -= 8;
                decoded.push((bits >> held) as u8);
                bits &= (1 << held) - 1;
            }
        }
        assert_eq!(decoded, all);
    }
}
