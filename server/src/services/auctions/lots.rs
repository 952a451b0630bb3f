//! A show's lots from the creator's side: create (scheduled, or opened at once), open, stop,
//! the listing, the lot a joining connection is shown, and the bid log with its CSV export;
//! and what the room hears of each.

use uuid::Uuid;

use super::{AuctionError, AuctionsService};
use crate::domain::auction::{
    Auction, AuctionId, AuctionResult, AuctionSpec, AuctionStatus, AuctionView, LogEntry,
};
use crate::domain::commerce::SalesChannel;
use crate::domain::protocol::{AuctionEnd, Broadcast};
use crate::domain::{Code, DomainError, Principal, ProductId, Show, ShowId};
use crate::store::auctions::{another_open, auction_not_found};

/// A lot as the creator asks for it.
#[derive(Debug, Clone)]
pub struct NewAuction {
    pub product_id: ProductId,
    pub spec: AuctionSpec,
    /// Open at once (the default), or schedule it: it takes pre-bids until it is opened.
    pub open: bool,
}

/// A lot's bid log, for its creator and moderators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogExport {
    pub auction: AuctionView,
    pub entries: Vec<LogEntry>,
}

/// The export's columns.
const CSV_COLUMNS: [&str; 10] = [
    "seq",
    "received_at",
    "bidder",
    "kind",
    "amount",
    "outcome",
    "current",
    "leader",
    "ends_at",
    "currency",
];

impl LogExport {
    /// One CSV line per entry after a header; amounts are decimal text in the lot's currency,
    /// times RFC 3339 UTC (no cell holds text a person typed).
    pub fn csv(&self) -> Vec<u8> {
        let currency = self.auction.next_minimum.currency;
        let amount = |a: i64| currency.format_decimal(a);
        let time = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default()
        };
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        // Writing to a Vec cannot fail: the errors are I/O errors of the writer.
        let _ = out.write_record(CSV_COLUMNS);
        for e in &self.entries {
            let kind = match e.kind {
                crate::domain::auction::BidKind::Amount => "amount",
                crate::domain::auction::BidKind::Max => "max",
            };
            let _ = out.write_record([
                e.seq.to_string(),
                time(e.received_ms),
                e.bidder.to_string(),
                kind.to_string(),
                amount(e.amount),
                e.outcome.clone(),
                e.current.map(amount).unwrap_or_default(),
                e.leader.map(|l| l.to_string()).unwrap_or_default(),
                e.ends_at_ms.map(time).unwrap_or_default(),
                currency.to_string(),
            ]);
        }
        out.into_inner().unwrap_or_default()
    }
}

/// A caller who runs the show's auctions (its creator, its moderators): what the first step of
/// a request with a body settles. Only the service makes one.
#[derive(Debug, Clone)]
pub struct Manager {
    show: Show,
}

impl AuctionsService {
    /// The caller, who must run auctions in the show.
    pub async fn manager(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<Manager, AuctionError> {
        let show = self.managed(who, id).await?;
        Ok(Manager { show })
    }

    /// Adds a lot of a lineup product to the show: scheduled (`auction.scheduled`), or opened
    /// at once (`auction.started`), which is refused while another lot is open.
    pub async fn create(
        &self,
        manager: &Manager,
        new: NewAuction,
    ) -> Result<AuctionView, AuctionError> {
        let show = &manager.show;
        SalesChannel::of(show.status)?;
        let rules = new.spec.validate()?;
        if !self.catalog.lineup(show).await?.contains(&new.product_id) {
            return Err(DomainError::invalid(
                Code::NotInLineup,
                "only products of the show's lineup can be auctioned",
            )
            .into());
        }
        if let Some(product) = self.catalog.product(new.product_id).await?
            && product.price.currency != rules.currency
        {
            return Err(DomainError::invalid(
                Code::WrongCurrency,
                format!("the product is priced in {}", product.price.currency),
            )
            .into());
        }
        if new.open {
            // Refused before anything is made: a failed request leaves no lot behind.
            self.none_open(show, None).await?;
        }
        let auction = Auction::new(AuctionId(Uuid::now_v7()), new.product_id, rules);
        self.auctions.create_auction(show, &auction).await??;
        if new.open {
            return self.open_lot(show, auction.id).await;
        }
        let view = auction.view();
        let scheduled = Broadcast::AuctionScheduled {
            auction: Box::new(view.clone()),
        };
        self.tell(show, &scheduled).await;
        Ok(view)
    }

    /// Every lot of the show, oldest first (anyone).
    pub async fn list(&self, id: ShowId) -> Result<Vec<AuctionView>, AuctionError> {
        let show = self.show(id).await?;
        let lots = self.auctions.auctions(&show).await?;
        Ok(lots.iter().map(Auction::view).collect())
    }

    /// One lot of the show (anyone); `auction_not_found` for another show's.
    pub async fn get(&self, id: ShowId, auction: AuctionId) -> Result<AuctionView, AuctionError> {
        let show = self.show(id).await?;
        match self.auctions.auction(&show, auction).await? {
            Some(lot) => Ok(lot.view()),
            None => Err(auction_not_found(auction).into()),
        }
    }

    /// Opens a scheduled lot (creator, moderators).
    pub async fn open(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        auction: AuctionId,
    ) -> Result<AuctionView, AuctionError> {
        let show = self.managed(who, id).await?;
        SalesChannel::of(show.status)?;
        self.open_lot(&show, auction).await
    }

    /// Stops a lot now (creator, moderators): it closes with the bids so far.
    pub async fn close(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        auction: AuctionId,
    ) -> Result<AuctionView, AuctionError> {
        let show = self.managed(who, id).await?;
        let now_ms = self.clock.now_ms() as i64;
        let step = self
            .auctions
            .close_auction(&show, auction, now_ms, true)
            .await??;
        self.closed(&show, &step.auction).await;
        Ok(step.auction.view())
    }

    /// The lot's bid log (creator, moderators).
    pub async fn log(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        auction: AuctionId,
    ) -> Result<LogExport, AuctionError> {
        let show = self.managed(who, id).await?;
        let Some(lot) = self.auctions.auction(&show, auction).await? else {
            return Err(auction_not_found(auction).into());
        };
        let entries = self.auctions.auction_log(&show, auction).await?;
        Ok(LogExport {
            auction: lot.view(),
            entries,
        })
    }

    /// The lot a joining connection is shown: the open one, else the newest scheduled one,
    /// else the one that closed last, else none.
    pub async fn welcome_lot(&self, show: &Show) -> Result<Option<AuctionView>, AuctionError> {
        let lots = self.auctions.auctions(show).await?;
        let of = |status| lots.iter().filter(move |l| l.status == status);
        let lot = of(AuctionStatus::Open)
            .next()
            .or_else(|| of(AuctionStatus::Scheduled).next_back())
            .or_else(|| of(AuctionStatus::Closed).max_by_key(|l| l.ends_at_ms));
        Ok(lot.map(Auction::view))
    }

    /// Refused with `auction_running` while a lot other than `except` is open.
    async fn none_open(&self, show: &Show, except: Option<AuctionId>) -> Result<(), AuctionError> {
        let lots = self.auctions.auctions(show).await?;
        match lots
            .iter()
            .find(|l| l.status == AuctionStatus::Open && Some(l.id) != except)
        {
            Some(open) => Err(another_open(open.id).into()),
            None => Ok(()),
        }
    }

    /// Opens a lot and tells the room; the pre-bidders who do not lead hear they are outbid.
    async fn open_lot(&self, show: &Show, id: AuctionId) -> Result<AuctionView, AuctionError> {
        let now_ms = self.clock.now_ms() as i64;
        let step = self.auctions.open_auction(show, id, now_ms).await??;
        let view = Box::new(step.auction.view());
        let started = Broadcast::AuctionStarted {
            auction: view.clone(),
        };
        self.tell(show, &started).await;
        for viewer in step.outbid {
            let outbid = Broadcast::AuctionOutbid {
                to: viewer.to_string(),
                auction: view.clone(),
            };
            self.tell(show, &outbid).await;
        }
        Ok(*view)
    }

    /// After a close that took effect on this node: the sale (the winner's order), then
    /// `auction.ended` with the result, the winner and the order.
    pub(super) async fn closed(&self, show: &Show, lot: &Auction) {
        let order_id = self.sales.on_closed(show, lot).await;
        let (result, winner) = match &lot.result {
            Some(AuctionResult::Sold { winner, .. }) => (AuctionEnd::Sold, Some(winner.clone())),
            Some(AuctionResult::ReserveNotMet { .. }) => (AuctionEnd::ReserveNotMet, None),
            Some(AuctionResult::Unsold) | None => (AuctionEnd::Unsold, None),
        };
        let label = match result {
            AuctionEnd::Sold => "sold",
            AuctionEnd::ReserveNotMet => "reserve_not_met",
            AuctionEnd::Unsold => "unsold",
        };
        metrics::counter!("livesale_auctions_closed_total", "result" => label).increment(1);
        tracing::info!(show = %show.id, auction = %lot.id, result = label, "auction closed");
        let ended = Broadcast::AuctionEnded {
            auction: Box::new(lot.view()),
            result,
            winner,
            order_id,
        };
        self.tell(show, &ended).await;
    }

    /// Publishes to the room; a bus that cannot be reached costs the message, not the step
    /// that already took effect (logged).
    pub(super) async fn tell(&self, show: &Show, event: &Broadcast) {
        if let Err(e) = self.hub.publish(show, event).await {
            tracing::warn!(show = %show.id, error = %e, "auction message not published");
        }
    }
}
