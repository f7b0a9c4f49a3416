//! The numbers of an aggregate: pass rate, its 95% Wilson score interval, and the unbiased
//! pass@k estimator of Chen et al. (2021, "Evaluating Large Language Models Trained on
//! Code"). Pure functions of (passes, attempts), so `verify` gets the same numbers back.

use crate::output::{Interval, PassAtK};

/// z for a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// `passes / attempts` (0 for no attempts).
pub(crate) fn pass_rate(passes: u32, attempts: u32) -> f64 {
    if attempts == 0 {
        return 0.0;
    }
    f64::from(passes) / f64::from(attempts)
}

/// The Wilson score interval: unlike the normal approximation it stays inside [0, 1] and is
/// not a zero-width [1, 1] after 5 passes of 5 — it says [0.57, 1], which is what 5 samples
/// can tell.
pub(crate) fn wilson_95(passes: u32, attempts: u32) -> Interval {
    if attempts == 0 {
        return Interval { low: 0.0, high: 1.0 };
    }
    let n = f64::from(attempts);
    let p = pass_rate(passes, attempts);
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// pass@k = 1 − C(n−c, k) / C(n, k), computed as a product so that it never overflows.
pub(crate) fn pass_at_k(passes: u32, attempts: u32, k: u32) -> f64 {
    let (n, c) = (attempts, passes.min(attempts));
    if k == 0 || k > n {
        return 0.0;
    }
    if n - c < k {
        return 1.0;
    }
    let mut none_pass = 1.0;
    for i in (n - c + 1)..=n {
        none_pass *= 1.0 - f64::from(k) / f64::from(i);
    }
    1.0 - none_pass
}

/// pass@k for k = 1 … attempts.
pub(crate) fn pass_at_every_k(passes: u32, attempts: u32) -> Vec<PassAtK> {
    (1..=attempts)
        .map(|k| PassAtK {
            k,
            estimate: pass_at_k(passes, attempts, k),
        })
        .collect()
}

/// Two computed numbers agree (a JSON round trip may move the last bit).
pub(crate) fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_published_values() {
        // 3 of 5 (the five runs): [0.2307, 0.8824].
        let interval = wilson_95(3, 5);
        assert!((interval.low - 0.2307).abs() < 1e-4, "{interval:?}");
        assert!((interval.high - 0.8824).abs() < 1e-4, "{interval:?}");
        // 5 of 5 is not certainty: [0.5655, 1].
        let all = wilson_95(5, 5);
        assert!((all.low - 0.5655).abs() < 1e-4 && same(all.high, 1.0), "{all:?}");
        let none = wilson_95(0, 5);
        assert!(same(none.low, 0.0) && (none.high - 0.4345).abs() < 1e-4, "{none:?}");
    }

    #[test]
    fn pass_at_k_is_the_unbiased_estimator() {
        // pass@1 is the rate.
        assert!(same(pass_at_k(3, 5, 1), 0.6));
        // 1 − C(2,2)/C(5,2) = 1 − 1/10.
        assert!(same(pass_at_k(3, 5, 2), 0.9));
        // Fewer failures than k: some pass is certain.
        assert!(same(pass_at_k(3, 5, 3), 1.0));
        assert!(same(pass_at_k(0, 5, 5), 0.0));
        assert_eq!(pass_at_every_k(3, 5).len(), 5);
    }
}
