//! Counts by kind (errors, answers) that a run's tasks add to and the report reads once.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Counts(Mutex<BTreeMap<String, u64>>);

impl Counts {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, u64>) -> R) -> R {
        // Every change is one whole increment: a poisoned map is still right.
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// One more of `kind`.
    pub fn bump(&self, kind: impl Into<String>) {
        self.with(|m| *m.entry(kind.into()).or_default() += 1);
    }

    /// Adds counts made elsewhere (the token set-up's errors).
    pub fn merge(&self, counts: impl IntoIterator<Item = (String, u64)>) {
        self.with(|m| {
            for (k, v) in counts {
                *m.entry(k).or_default() += v;
            }
        });
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.with(|m| m.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn bumps_and_merges_add_up() {
        let t = Counts::default();
        t.bump("a");
        t.bump("a".to_string());
        t.merge([("a".to_string(), 3), ("b".to_string(), 1)]);
        let s = t.snapshot();
        assert_eq!(s.get("a"), Some(&5));
        assert_eq!(s.get("b"), Some(&1));
        assert_eq!(s.len(), 2);
    }
}
