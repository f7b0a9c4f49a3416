//! Finding every encoded form of every secret in normalised, lower-cased bytes, fast.
//!
//! The scan reads every byte Case wrote (logs have no size limit), so this is its hot path.
//! `aho-corasick`'s stream search with ASCII case folding stepped a DFA one byte at a time
//! with no prefilter (~30 MiB/s). Here the input is lower-cased once (a vectorised pass) and
//! searched case-sensitively for lower-cased patterns, which is the same match as ASCII case
//! folding but lets a SIMD searcher (Teddy, from `aho_corasick::packed`) skip the bytes that
//! cannot start a match. A leftmost search reports one pattern per position, so each match
//! start is checked against every pattern and the search resumes one byte later: every
//! occurrence of every pattern is seen, overlapping ones included.

use aho_corasick::{AhoCorasick, Input, MatchKind, Span, packed};

/// The search that finds the next position where some pattern starts.
enum Finder {
    /// Teddy (SSSE3/AVX2) or Rabin–Karp: the fast path.
    Packed(packed::Searcher),
    /// A DFA with its own prefilter, where no packed searcher can be built.
    Automaton(AhoCorasick),
}

/// Every pattern of every secret, lower-cased, and the search over them.
pub(super) struct Patterns {
    finder: Finder,
    patterns: Vec<Vec<u8>>,
    /// For each pattern, the index of its secret.
    secret_of: Vec<usize>,
    longest: usize,
}

impl Patterns {
    /// Builds the search for `(pattern, secret index)` pairs; patterns are lower-cased here.
    pub(super) fn new(pairs: Vec<(Vec<u8>, usize)>) -> Result<Patterns, aho_corasick::BuildError> {
        let mut pairs: Vec<(Vec<u8>, usize)> = pairs
            .into_iter()
            .map(|(pattern, secret)| (pattern.to_ascii_lowercase(), secret))
            .collect();
        pairs.sort();
        pairs.dedup();
        let (patterns, secret_of): (Vec<Vec<u8>>, Vec<usize>) = pairs.into_iter().unzip();
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&patterns)
            .build();
        let finder = match packed {
            Some(searcher) => Finder::Packed(searcher),
            None => Finder::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&patterns)?,
            ),
        };
        Ok(Patterns {
            finder,
            patterns,
            secret_of,
            longest,
        })
    }

    /// Length of the longest pattern: a stream keeps this many bytes less one between windows.
    pub(super) fn longest(&self) -> usize {
        self.longest
    }

    /// Calls `found` with the secret index of every pattern that occurs in `lowered` (already
    /// normalised and lower-cased), once per occurrence.
    pub(super) fn each_occurrence(&self, lowered: &[u8], mut found: impl FnMut(usize)) {
        let mut from = 0;
        while let Some(start) = self.next_start(lowered, from) {
            let rest = &lowered[start..];
            for (pattern, secret) in self.patterns.iter().zip(&self.secret_of) {
                if rest.starts_with(pattern) {
                    found(*secret);
                }
            }
            from = start + 1;
        }
    }

    fn next_start(&self, haystack: &[u8], from: usize) -> Option<usize> {
        if from >= haystack.len() {
            return None;
        }
        let span = Span::from(from..haystack.len());
        match &self.finder {
            Finder::Packed(searcher) => searcher.find_in(haystack, span).map(|hit| hit.start()),
            Finder::Automaton(automaton) => automaton.find(Input::new(haystack).span(span)).map(|hit| hit.start()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrences(patterns: &Patterns, haystack: &[u8]) -> Vec<usize> {
        let mut all = Vec::new();
        patterns.each_occurrence(haystack, |secret| all.push(secret));
        all
    }

    #[test]
    fn overlapping_and_nested_patterns_of_different_secrets_are_all_found() {
        let patterns = Patterns::new(vec![
            (b"ABCDEFGH".to_vec(), 0),
            (b"cdefghij".to_vec(), 1),
            (b"abcdefghijkl".to_vec(), 2),
        ])
        .expect("patterns");
        let mut found = occurrences(&patterns, b"xxabcdefghijklxx");
        found.sort();
        assert_eq!(found, vec![0, 1, 2]);
        assert!(occurrences(&patterns, b"abcdefg cdefghi").is_empty());
        assert_eq!(patterns.longest(), 12);
    }

    #[test]
    fn a_repeated_pattern_is_found_at_every_position() {
        let patterns = Patterns::new(vec![(b"aaaaaaaa".to_vec(), 0)]).expect("patterns");
        assert_eq!(occurrences(&patterns, &[b'a'; 10]).len(), 3);
    }

    #[test]
    fn many_patterns_fall_back_to_the_automaton_and_still_find_every_one() {
        let pairs: Vec<(Vec<u8>, usize)> = (0..200).map(|i| (format!("secret-{i:04}").into_bytes(), i)).collect();
        let patterns = Patterns::new(pairs).expect("patterns");
        assert!(matches!(patterns.finder, Finder::Automaton(_)));
        let found = occurrences(&patterns, b"..secret-0199..secret-0000secret-0042");
        assert_eq!(found, vec![199, 0, 42]);
    }
}
