//! What a replay shows beside the picture (issue 17, items 4 and 5): the room's events at
//! their times in the replay, the products it pins at today's prices, and highlights of what
//! sold. Ready exactly when the replay playlist is (`Media::replay_recording`: ended, recorded
//! and settled); times count from the recording's first segment, like chapters. The rules are
//! `domain::replay`'s; the prices `domain::commerce`'s (`PinView`, `price_in_effect`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::domain::chapter::{self, ChapterKind};
use crate::domain::commerce::{OrderStatus, Pin, PinView};
use crate::domain::replay::{self, ReplayEvent, ReplayProduct, Span};
use crate::domain::{Code, DomainError, ProductId, Show, ShowId};
use crate::media::{Media, MediaError};
use crate::store::recordings::Recording;
use crate::store::{
    CatalogStore, ChapterStore, CommerceStore, SharedStore, ShowStore, StoreError, TranscriptStore,
};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// No replay (yet): `replay_not_ready`.
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The replay's events and the products they pin.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayEvents {
    /// Unix ms of the replay's time zero (the recording's first segment).
    pub origin_ms: i64,
    /// From the origin to the end of the last recorded segment.
    pub duration_ms: i64,
    pub events: Vec<ReplayEvent>,
    pub products: BTreeMap<ProductId, ReplayProduct>,
}

/// A clip of the replay around the moment a sold product was pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight {
    pub product_id: ProductId,
    pub title: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The show's page opened at the clip (`?t=&end=`).
    pub url: String,
}

pub struct ReplayService {
    shows: Arc<dyn ShowStore>,
    transcripts: Arc<dyn TranscriptStore>,
    chapters: Arc<dyn ChapterStore>,
    commerce: Arc<dyn CommerceStore>,
    catalog: Arc<dyn CatalogStore>,
    media: Arc<Media>,
    clock: SharedClock,
    /// Base of the share links, without a trailing slash.
    public_url: String,
}

impl ReplayService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(
        store: &SharedStore,
        media: &Arc<Media>,
        clock: &SharedClock,
        public_url: &str,
    ) -> Self {
        ReplayService {
            shows: store.clone(),
            transcripts: store.clone(),
            chapters: store.clone(),
            commerce: store.clone(),
            catalog: store.clone(),
            media: media.clone(),
            clock: clock.clone(),
            public_url: public_url.to_string(),
        }
    }

    /// The show and its settled recording with the recording's origin, or `show_not_found` /
    /// `replay_not_ready`.
    async fn ready(&self, id: ShowId) -> Result<(Show, Recording, i64), ReplayError> {
        let show =
            self.shows.show(id).await?.ok_or_else(|| {
                DomainError::not_found(Code::ShowNotFound, format!("no show {id}"))
            })?;
        let recording = self.media.replay_recording(&show).await?;
        let origin = recording.origin_ms().ok_or(MediaError::ReplayNotReady)?;
        Ok((show, recording, origin))
    }

    /// The replay's events in time order, and every product they pin as it sells now.
    pub async fn events(&self, id: ShowId) -> Result<ReplayEvents, ReplayError> {
        let (show, recording, origin) = self.ready(id).await?;
        let events = replay::replay_events(self.transcripts.transcript(id).await?, origin);
        let pins = self.commerce.pins(&show).await?;
        let now = self.clock.now();
        let mut products = BTreeMap::new();
        for (product_id, had_deal) in replay::pinned_products(&events) {
            let Some(product) = self.catalog.product(product_id).await? else {
                continue;
            };
            // Still pinned: its deal's live numbers; else as an unpinned product sells.
            let view = match pins.iter().find(|p| p.pin.product_id == product_id) {
                Some(state) => PinView::new(&product, &state.pin, state.deal, now),
                None => {
                    let unpinned = Pin {
                        product_id,
                        pinned_at: now,
                        deal: None,
                    };
                    PinView::new(&product, &unpinned, Default::default(), now)
                }
            };
            products.insert(product_id, ReplayProduct::new(view, had_deal));
        }
        Ok(ReplayEvents {
            origin_ms: origin,
            duration_ms: recording.timeline_ms() as i64,
            events,
            products,
        })
    }

    /// A highlight for every product with a paid order in the show that was pinned in it,
    /// around its first pin ([`replay::highlight`]), in replay order.
    pub async fn highlights(&self, id: ShowId) -> Result<Vec<Highlight>, ReplayError> {
        let (show, recording, origin) = self.ready(id).await?;
        let mut sold: Vec<(ProductId, String)> = Vec::new();
        for order in self.commerce.orders(&show).await? {
            if order.status != OrderStatus::Paid {
                continue;
            }
            for line in order.items {
                if !sold.iter().any(|(p, _)| *p == line.product_id) {
                    sold.push((line.product_id, line.title));
                }
            }
        }
        // Pins and deals in time order (hidden ones too: hiding tidies the list, the pin
        // still happened).
        let pins: Vec<(i64, ProductId)> = self
            .chapters
            .chapters(&show)
            .await?
            .into_iter()
            .filter(|c| matches!(c.kind, ChapterKind::Pin | ChapterKind::Deal))
            .filter_map(|c| Some((chapter::at_ms(c.pts, origin), c.product_id?)))
            .collect();
        let segments = spans(&recording, origin);
        let mut out = Vec::new();
        for (product_id, line_title) in sold {
            let Some(&(pin_ms, _)) = pins.iter().find(|(_, p)| *p == product_id) else {
                continue;
            };
            let next = pins.iter().map(|(at, _)| *at).find(|&at| at > pin_ms);
            let Some(clip) = replay::highlight(pin_ms, next, &segments) else {
                continue;
            };
            let title = match self.catalog.product(product_id).await? {
                Some(product) => product.title,
                None => line_title,
            };
            out.push(Highlight {
                product_id,
                title,
                start_ms: clip.start_ms,
                end_ms: clip.end_ms,
                url: replay::clip_url(&self.public_url, id, clip),
            });
        }
        out.sort_by_key(|h| (h.start_ms, h.product_id));
        Ok(out)
    }
}

/// The recorded segments (those with bytes) on the replay's timeline: each from its program
/// date after `origin`, for its duration.
fn spans(recording: &Recording, origin: i64) -> Vec<Span> {
    recording
        .segments
        .iter()
        .filter(|s| s.bytes > 0)
        .map(|s| {
            let start_ms = s.pdt_ms - origin;
            Span {
                start_ms,
                end_ms: start_ms + (s.duration_s * 1000.0).round() as i64,
            }
        })
        .collect()
}
