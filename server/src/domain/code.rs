//! Every stable error `code` of the public contract in one enum: the `code` of a problem+json
//! answer, of a WebSocket `error` frame and of a failed order. Clients and UIs switch on these
//! strings, so a variant's text never changes once released; the enum is where a new one is
//! added, and nowhere else may spell one out.

/// Declares [`Code`] with each variant's wire text.
macro_rules! codes {
    ($($variant:ident = $text:literal,)*) => {
        /// A stable machine-readable error code (`Code::SoldOut` is `"sold_out"` on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The wire text of the code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }

            /// The code whose wire text is `text`, if there is one.
            pub fn parse(text: &str) -> Option<Code> {
                match text {
                    $($text => Some(Code::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    BadMessage = "bad_message",
    Banned = "banned",
    BodyTimeout = "body_timeout",
    C = "c",
    CameraNotFound = "camera_not_found",
    CameraWithoutVideo = "camera_without_video",
    CardNotFound = "card_not_found",
    CardPaymentsOff = "card_payments_off",
    CartFull = "cart_full",
    ChatPaused = "chat_paused",
    CodecMismatch = "codec_mismatch",
    ConcurrentUpdate = "concurrent_update",
    CurrencyMismatch = "currency_mismatch",
    DealEnded = "deal_ended",
    DuplicateSku = "duplicate_sku",
    EmptyCart = "empty_cart",
    EmptyMessage = "empty_message",
    ForbiddenCharacters = "forbidden_characters",
    ForbiddenRole = "forbidden_role",
    IdempotencyKeyReused = "idempotency_key_reused",
    IllegalTransition = "illegal_transition",
    InsufficientStock = "insufficient_stock",
    Internal = "internal",
    InvalidBody = "invalid_body",
    InvalidCsv = "invalid_csv",
    InvalidCursor = "invalid_cursor",
    InvalidDeal = "invalid_deal",
    InvalidDescription = "invalid_description",
    InvalidDeviceId = "invalid_device_id",
    InvalidDisplayName = "invalid_display_name",
    InvalidDuration = "invalid_duration",
    InvalidEmail = "invalid_email",
    InvalidEvent = "invalid_event",
    InvalidIdempotencyKey = "invalid_idempotency_key",
    InvalidImageUrl = "invalid_image_url",
    InvalidJson = "invalid_json",
    InvalidLabel = "invalid_label",
    InvalidLimit = "invalid_limit",
    InvalidName = "invalid_name",
    InvalidOffer = "invalid_offer",
    InvalidPaymentMethod = "invalid_payment_method",
    InvalidPrice = "invalid_price",
    InvalidQuantity = "invalid_quantity",
    InvalidQuery = "invalid_query",
    InvalidReason = "invalid_reason",
    InvalidRole = "invalid_role",
    InvalidSdp = "invalid_sdp",
    InvalidShipping = "invalid_shipping",
    InvalidSignature = "invalid_signature",
    InvalidSku = "invalid_sku",
    InvalidStock = "invalid_stock",
    InvalidTerm = "invalid_term",
    InvalidTitle = "invalid_title",
    InvalidToken = "invalid_token",
    InvalidUrl = "invalid_url",
    InviteNotFound = "invite_not_found",
    JoinRequired = "join_required",
    MediaAtCapacity = "media_at_capacity",
    MediaHomeUnreachable = "media_home_unreachable",
    MediaPortsExhausted = "media_ports_exhausted",
    MessageNotFound = "message_not_found",
    MessageTooLong = "message_too_long",
    MethodNotAllowed = "method_not_allowed",
    MissingIdempotencyKey = "missing_idempotency_key",
    MissingToken = "missing_token",
    NoWebhook = "no_webhook",
    NotFound = "not_found",
    NotHeld = "not_held",
    NotImplemented = "not_implemented",
    NotInLineup = "not_in_lineup",
    NotPinned = "not_pinned",
    NotSessionOwner = "not_session_owner",
    OrderNotFound = "order_not_found",
    OrderNotPending = "order_not_pending",
    OrderNotRefundable = "order_not_refundable",
    OverLimit = "over_limit",
    PayloadTooLarge = "payload_too_large",
    PaymentDeclined = "payment_declined",
    PaymentFailed = "payment_failed",
    PaymentUnavailable = "payment_unavailable",
    PrivateAddress = "private_address",
    ProductNotFound = "product_not_found",
    ProductQuota = "product_quota",
    QrTextEmpty = "qr_text_empty",
    QrTextTooLong = "qr_text_too_long",
    RateLimited = "rate_limited",
    ReservationExpired = "reservation_expired",
    ReservedDisplayName = "reserved_display_name",
    SessionNotFound = "session_not_found",
    ShowEnded = "show_ended",
    ShowNotFound = "show_not_found",
    ShuttingDown = "shutting_down",
    SlowMode = "slow_mode",
    SoldOut = "sold_out",
    StoreUnavailable = "store_unavailable",
    TimedOut = "timed_out",
    TokenExpired = "token_expired",
    TokenNotYetValid = "token_not_yet_valid",
    TokenRevoked = "token_revoked",
    TooManyPins = "too_many_pins",
    TooManyTerms = "too_many_terms",
    Unavailable = "unavailable",
    UnknownCurrency = "unknown_currency",
    UnknownField = "unknown_field",
    UnknownReaction = "unknown_reaction",
    UnknownType = "unknown_type",
    UnsupportedMediaType = "unsupported_media_type",
    UpgradeRequired = "upgrade_required",
    ViewerNotFound = "viewer_not_found",
    WrongShow = "wrong_show",
    // Catalog (issue 20): shows and products for the dashboard.
    InvalidCoverUrl = "invalid_cover_url",
    InvalidScheduledAt = "invalid_scheduled_at",
    NotProductOwner = "not_product_owner",
    ProductPinned = "product_pinned",
    ShowCancelled = "show_cancelled",
    ShowNotScheduled = "show_not_scheduled",
    // Orders and settings (issue 20: the creator's dashboard).
    ModeratorNotFound = "moderator_not_found",
    TooManyModerators = "too_many_moderators",
    // Accounts: sign-in links, sign-out everywhere, passkeys.
    CreatorNotFound = "creator_not_found",
    InvalidCeremony = "invalid_ceremony",
    InvalidCredential = "invalid_credential",
    PasskeyRejected = "passkey_rejected",
    PasskeyNotFound = "passkey_not_found",
    PasskeysUnavailable = "passkeys_unavailable",
    // LL-HLS (issue 16).
    HlsDisabled = "hls_disabled",
    HlsNotStarted = "hls_not_started",
    ProgramNotPackageable = "program_not_packageable",
    HlsRequestTooFar = "hls_request_too_far",
    HlsGone = "hls_gone",
    HlsBusy = "hls_busy",
    // Replay chapters (issue 17).
    ShowNotLive = "show_not_live",
    ChapterNotFound = "chapter_not_found",
    TooManyChapters = "too_many_chapters",
    ReplayNotReady = "replay_not_ready",
    // Live auctions (issue 18).
    InvalidAuction = "invalid_auction",
    InvalidBid = "invalid_bid",
    WrongCurrency = "wrong_currency",
    BidTooLow = "bid_too_low",
    MaxBelowCurrent = "max_below_current",
    AuctionNotOpen = "auction_not_open",
    AuctionClosed = "auction_closed",
    AuctionRunning = "auction_running",
    // Replays served by every node (issue 17).
    RecordingNodeUnreachable = "recording_node_unreachable",
    // Live auctions: lots in the store (issue 18).
    AuctionNotFound = "auction_not_found",
    TooManyAuctions = "too_many_auctions",
    // Live auctions: who may bid (issue 18).
    BidderNotAllowed = "bidder_not_allowed",
    CardRequired = "card_required",
    // Live auctions: the sale of a closed lot (issue 18).
    OfferNotFound = "offer_not_found",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Code::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {text:?}")))
    }
}

/// `code == "sold_out"`: tests and logs compare with the wire text.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_unique_and_parses_back() {
        let mut seen = std::collections::HashSet::new();
        for &code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{text} is not snake_case"
            );
            assert_eq!(Code::parse(text), Some(code));
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{text}\""));
        }
        assert_eq!(Code::parse("no_such_code"), None);
    }
}
