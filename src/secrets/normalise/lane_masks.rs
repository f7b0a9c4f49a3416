//! Which bytes of a 64-byte lane the normaliser must drop (ASCII whitespace), as one bit per
//! byte.
//!
//! The normaliser's fast loop (`compact` in the parent module) needs this mask for every 64
//! bytes it reads. Log text has whitespace every few words, so an answer per byte (a table
//! lookup each) or per eight bytes (a "may be special" word test that falls back to bytes) was
//! most of the scan's time. With the mask, a lane is copied as a few runs between its
//! whitespace bytes instead. (Escapes, `%`, `\` and `&`, are found before, with `memchr3`: the
//! lanes never hold one.)
//!
//! On x86_64 the mask comes from SSE2 compares (part of the x86_64 baseline, so no run-time
//! detection is needed); elsewhere from a portable byte loop. The compiler does not turn that
//! loop into compares and a `movemask` by itself (measured: ~4 ns/byte, slower than the
//! per-byte table it replaces), hence the intrinsics. No maintained crate exposes this: `memchr`
//! finds up to three bytes, one occurrence at a time, and the scan needs the positions of five.

/// Bytes per lane: one bit each in a `u64`.
pub(super) const LANE: usize = 64;

/// Where `lane` has ASCII whitespace (`u8::is_ascii_whitespace`: space, `\t`, `\n`, form feed,
/// `\r`): bit `i` stands for byte `i`.
#[inline]
pub(super) fn whitespace_mask(lane: &[u8; LANE]) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: `sse2::whitespace_mask` only requires the CPU to have SSE2, and this build targets
        // it (the cfg above: every x86_64 CPU has it). It reads nothing but `lane`.
        unsafe { sse2::whitespace_mask(lane) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        portable_whitespace_mask(lane)
    }
}

/// The mask of `lane` a byte at a time: the definition, and the other targets' path.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn portable_whitespace_mask(lane: &[u8; LANE]) -> u64 {
    lane.iter().enumerate().fold(0, |mask, (index, &byte)| {
        mask | u64::from(byte.is_ascii_whitespace()) << index
    })
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set_epi64x, _mm_set1_epi8,
    };

    use super::LANE;

    /// The whitespace mask of `lane`, sixteen bytes per compare. Safe code throughout (the
    /// intrinsics take no pointers); it is a `target_feature` function only so that they may be
    /// called.
    #[target_feature(enable = "sse2")]
    pub(super) fn whitespace_mask(lane: &[u8; LANE]) -> u64 {
        let mut mask = 0;
        for (index, sixteen) in lane.chunks_exact(16).enumerate() {
            mask |= u64::from(sixteen_whitespace(load(sixteen))) << (16 * index);
        }
        mask
    }

    /// Sixteen bytes as a vector, without a pointer (the compiler makes it one load).
    #[target_feature(enable = "sse2")]
    fn load(sixteen: &[u8]) -> __m128i {
        let word = |from: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&sixteen[from..from + 8]);
            i64::from_le_bytes(bytes)
        };
        _mm_set_epi64x(word(8), word(0))
    }

    /// The whitespace mask of sixteen bytes.
    #[target_feature(enable = "sse2")]
    fn sixteen_whitespace(bytes: __m128i) -> u16 {
        let equal = |value: u8| _mm_cmpeq_epi8(bytes, _mm_set1_epi8(value as i8));
        // `\t`, `\n`, vertical tab, form feed, `\r` are 9..=13: shifted by 0x80 - 9 they are the
        // five smallest signed bytes (-128..=-124), and nothing else is. Vertical tab is not
        // ASCII whitespace to `u8::is_ascii_whitespace`, so it is taken out again.
        let shifted = _mm_add_epi8(bytes, _mm_set1_epi8(0x77));
        let nine_to_thirteen = _mm_cmpgt_epi8(_mm_set1_epi8(-123), shifted);
        let whitespace = _mm_or_si128(equal(b' '), _mm_andnot_si128(equal(0x0b), nine_to_thirteen));
        // movemask puts the top bit of each of the 16 bytes in the low 16 bits of an i32.
        _mm_movemask_epi8(whitespace) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_value_at_every_position_is_classified_as_the_definition_says() {
        for value in 0..=255u8 {
            for position in 0..LANE {
                let mut lane = [b'a'; LANE];
                lane[position] = value;
                let expected = u64::from(value.is_ascii_whitespace()) << position;
                assert_eq!(whitespace_mask(&lane), expected, "{value:#04x} at {position}");
                assert_eq!(portable_whitespace_mask(&lane), expected, "{value:#04x} at {position}");
            }
        }
    }

    #[test]
    fn the_fast_masks_equal_the_portable_ones_on_mixed_lanes() {
        // Every byte value in every position, next to every other, over a few lanes.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut lane = [0u8; LANE];
            for byte in &mut lane {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            assert_eq!(whitespace_mask(&lane), portable_whitespace_mask(&lane), "{lane:?}");
        }
    }
}
