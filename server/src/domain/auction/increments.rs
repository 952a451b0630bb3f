//! The increment table: how much above the current price the next bid must be, by price band.

use crate::domain::money::MAX_AMOUNT;
use crate::domain::{Code, DomainError};

/// Most bands a creator's table may have.
pub const MAX_BANDS: usize = 16;

/// From `from` (minor units, inclusive) up to the next band's `from`, bids rise by `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IncrementBand {
    pub from: i64,
    pub step: i64,
}

/// Bands in ascending `from`, the first from 0; steps never shrink as the price grows (so
/// `p + step(p)` grows with `p`: a higher price never asks for a lower next bid).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IncrementTable {
    pub bands: Vec<IncrementBand>,
}

impl Default for IncrementTable {
    /// 100 minor units under 2000, 200 to 5000, 500 to 20000, 1000 to 50000, 2500 above
    /// ($1 under $20, $2 to $50, $5 to $200, $10 to $500, $25 above).
    fn default() -> Self {
        let band = |from, step| IncrementBand { from, step };
        IncrementTable {
            bands: vec![
                band(0, 100),
                band(2000, 200),
                band(5000, 500),
                band(20000, 1000),
                band(50000, 2500),
            ],
        }
    }
}

impl IncrementTable {
    /// The step at `price`: the band with the largest `from` <= price.
    pub fn step(&self, price: i64) -> i64 {
        self.bands
            .iter()
            .take_while(|b| b.from <= price)
            .last()
            .map(|b| b.step)
            .unwrap_or(1)
    }

    /// This table if it is valid: 1 to 16 bands, the first from 0, `from` strictly ascending,
    /// steps from 1 to the largest amount and never decreasing.
    pub fn validated(&self) -> Result<IncrementTable, DomainError> {
        let bad = |m: &str| Err(DomainError::invalid(Code::InvalidAuction, m.to_string()));
        if self.bands.is_empty() || self.bands.len() > MAX_BANDS {
            return bad("the increment table needs 1 to 16 bands");
        }
        if self.bands[0].from != 0 {
            return bad("the first increment band starts at 0");
        }
        for band in &self.bands {
            if band.step < 1 || band.step > MAX_AMOUNT || band.from < 0 || band.from > MAX_AMOUNT {
                return bad("increment steps must be positive and bands within the largest amount");
            }
        }
        for pair in self.bands.windows(2) {
            if pair[1].from <= pair[0].from {
                return bad("increment bands must be in ascending order");
            }
            if pair[1].step < pair[0].step {
                return bad("increment steps must not shrink as the price grows");
            }
        }
        Ok(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_follows_the_issue() {
        let t = IncrementTable::default();
        assert_eq!(t.step(0), 100);
        assert_eq!(t.step(1999), 100);
        assert_eq!(t.step(2000), 200);
        assert_eq!(t.step(4999), 200);
        assert_eq!(t.step(5000), 500);
        assert_eq!(t.step(19999), 500);
        assert_eq!(t.step(20000), 1000);
        assert_eq!(t.step(49999), 1000);
        assert_eq!(t.step(50000), 2500);
        assert_eq!(t.step(MAX_AMOUNT), 2500);
        assert!(t.validated().is_ok());
    }

    #[test]
    fn a_creators_table_is_checked() {
        let table = |bands: &[(i64, i64)]| IncrementTable {
            bands: bands
                .iter()
                .map(|&(from, step)| IncrementBand { from, step })
                .collect(),
        };
        assert!(table(&[(0, 50), (1000, 100)]).validated().is_ok());
        for bad in [
            table(&[]),
            table(&[(10, 50)]),
            table(&[(0, 0)]),
            table(&[(0, -5)]),
            table(&[(0, 50), (0, 100)]),
            table(&[(0, 50), (1000, 100), (500, 200)]),
            table(&[(0, 100), (1000, 50)]),
            table(&(0..17).map(|i| (i * 100, 10)).collect::<Vec<_>>()),
        ] {
            assert_eq!(
                bad.validated().unwrap_err().code,
                "invalid_auction",
                "{bad:?}"
            );
        }
        assert_eq!(table(&[(0, 50), (1000, 100)]).step(999), 50);
    }
}
