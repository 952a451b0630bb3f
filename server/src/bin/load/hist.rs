//! A small log-linear latency histogram (microseconds), in the spirit of HdrHistogram:
//! 128 sub-buckets per power of two, so a recorded value is known to within 0.8 %. Buckets
//! are atomics (recording from any task costs one uncontended `fetch_add`), and the sparse
//! `[index, count]` form travels in the JSON summary so several load processes can be merged
//! exactly.

use std::sync::atomic::{AtomicU64, Ordering};

const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Values up to 2^41 µs (about 25 days) have a bucket; larger ones go to the last.
const MAX_SHIFT: usize = 34;
const BUCKETS: usize = (MAX_SHIFT + 2) * SUB;

fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = (msb - SUB_BITS) as usize;
    if shift > MAX_SHIFT {
        return BUCKETS - 1;
    }
    let sub = (v >> shift) as usize & (SUB - 1);
    ((shift + 1) << SUB_BITS) + sub
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let b = i >> SUB_BITS;
    let sub = (i & (SUB - 1)) as u64;
    if b == 0 {
        return (sub, sub);
    }
    let lo = (SUB as u64 + sub) << (b - 1);
    (lo, lo + (1u64 << (b - 1)) - 1)
}

pub struct Hist {
    buckets: Vec<AtomicU64>,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Hist {
    pub fn record(&self, v: u64) {
        self.buckets[index(v)].fetch_add(1, Ordering::Relaxed);
    }

    /// Non-empty buckets as `[index, count]`.
    pub fn sparse(&self) -> Vec<[u64; 2]> {
        self.buckets
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.load(Ordering::Relaxed);
                (c > 0).then_some([i as u64, c])
            })
            .collect()
    }
}

/// Percentiles of a sparse histogram (possibly the sum of several).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: u64,
}

/// Adds `more` into `into` (both sparse, any order).
pub fn merge(into: &mut Vec<[u64; 2]>, more: &[[u64; 2]]) {
    let mut map: std::collections::BTreeMap<u64, u64> =
        into.iter().map(|[i, c]| (*i, *c)).collect();
    for [i, c] in more {
        *map.entry(*i).or_default() += c;
    }
    *into = map.into_iter().map(|(i, c)| [i, c]).collect();
}

pub fn percentiles(sparse: &[[u64; 2]]) -> Percentiles {
    let mut buckets: Vec<(usize, u64)> = sparse
        .iter()
        .filter(|[i, _]| (*i as usize) < BUCKETS)
        .map(|[i, c]| (*i as usize, *c))
        .collect();
    buckets.sort_unstable();
    let count: u64 = buckets.iter().map(|(_, c)| c).sum();
    if count == 0 {
        return Percentiles::default();
    }
    let mut sum = 0f64;
    for (i, c) in &buckets {
        let (lo, hi) = bounds(*i);
        sum += (lo + hi) as f64 / 2.0 * *c as f64;
    }
    // The value at quantile q: the upper bound of the bucket holding the ceil(q·count)-th
    // value (never flattering).
    let at = |q: f64| -> u64 {
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (i, c) in &buckets {
            seen += c;
            if seen >= rank {
                return bounds(*i).1;
            }
        }
        bounds(buckets.last().map(|b| b.0).unwrap_or(0)).1
    };
    Percentiles {
        count,
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        p999_us: at(0.999),
        max_us: at(1.0),
        mean_us: (sum / count as f64) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_within_one_percent() {
        for v in [
            0u64,
            1,
            127,
            128,
            129,
            255,
            256,
            1000,
            12_345,
            1_000_000,
            987_654_321,
        ] {
            let (lo, hi) = bounds(index(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            assert!(
                (hi - lo) as f64 <= v as f64 / 100.0 + 1.0,
                "{v}: [{lo}, {hi}]"
            );
        }
    }

    #[test]
    fn percentiles_of_a_uniform_range() {
        let h = Hist::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let p = percentiles(&h.sparse());
        assert_eq!(p.count, 10_000);
        assert!((4950..=5050).contains(&p.p50_us), "{p:?}");
        assert!((9850..=9990).contains(&p.p99_us), "{p:?}");
        assert!(p.max_us >= 10_000 && p.max_us <= 10_100, "{p:?}");
    }
}
