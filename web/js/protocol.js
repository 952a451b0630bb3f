// The live room's wire vocabulary (docs/protocol.md), named once: the frame types the server
// sends, the commands a page sends, the close codes, the roles and the show's states. Pages and
// features use these names, never the strings themselves, so a renamed frame is one edit here
// and a typo is an import error instead of a handler that silently never runs.

/** Server → client frame types. */
export const Frame = Object.freeze({
  WELCOME: 'welcome',
  ERROR: 'error',
  PONG: 'pong',
  CHAT_MESSAGE: 'chat.message',
  CHAT_DELETED: 'chat.deleted',
  CHAT_CLEARED: 'chat.cleared',
  CHAT_MODE: 'chat.mode',
  CHAT_PENDING: 'chat.pending',
  CHAT_PINNED: 'chat.pinned',
  CHAT_HELD: 'chat.held',
  CHAT_RESOLVED: 'chat.resolved',
  PRESENCE: 'presence',
  PIN_UPDATED: 'pin.updated',
  PURCHASE: 'purchase',
  ORDER_UPDATED: 'order.updated',
  REACTIONS: 'reactions',
  SHOW_STATUS: 'show.status',
  PROGRAM_CHANGED: 'program.changed',
  MOD_NOTICE: 'mod.notice',
  MOD_TERMS: 'mod.terms',
  MOD_MESSAGE: 'mod.message',
  MOD_AUDIT: 'mod.audit',
  AUCTION_SCHEDULED: 'auction.scheduled',
  AUCTION_STARTED: 'auction.started',
  AUCTION_BID: 'auction.bid',
  AUCTION_ENDED: 'auction.ended',
  AUCTION_OUTBID: 'auction.outbid',
  AUCTION_PAYMENT: 'auction.payment',
  AUCTION_OFFER: 'auction.offer',
  AUCTION_ALERT: 'auction.alert',
  AUCTION_LOG: 'auction.log',
  AUCTION_ACK: 'auction.ack',
});

/**
 * Client → server commands. The `mod.*` ones are also the body `type` of
 * `POST /api/shows/{id}/moderation` and the `action` of audit entries.
 */
export const Command = Object.freeze({
  CHAT_SEND: 'chat.send',
  REACTION_SEND: 'reaction.send',
  RESUME: 'resume',
  PING: 'ping',
  MOD_DELETE: 'mod.delete',
  MOD_TIMEOUT: 'mod.timeout',
  MOD_BAN: 'mod.ban',
  MOD_UNBAN: 'mod.unban',
  MOD_SLOW: 'mod.slow',
  MOD_TERMS: 'mod.terms',
  MOD_LINKS: 'mod.links',
  MOD_APPROVE: 'mod.approve',
  MOD_REJECT: 'mod.reject',
  MOD_CLEAR: 'mod.clear',
  MOD_PAUSE: 'mod.pause',
  MOD_PIN: 'mod.pin',
  MOD_UNPIN: 'mod.unpin',
  MOD_CHAT: 'mod.chat',
  AUCTION_BID: 'auction.bid',
});

/** Error codes (of `error` frames and problem+json answers) that pages act on, not just show. */
export const Code = Object.freeze({
  JOIN_REQUIRED: 'join_required',
  NOT_HELD: 'not_held',
  CODEC_MISMATCH: 'codec_mismatch',
  SHOW_ENDED: 'show_ended',
  BID_TOO_LOW: 'bid_too_low',
  CARD_REQUIRED: 'card_required',
});

/** An auction lot's state (`auction.status`) and how a closed one ended (`auction.ended.result`). */
export const AuctionStatus = Object.freeze({
  SCHEDULED: 'scheduled',
  OPEN: 'open',
  CLOSED: 'closed',
});

export const AuctionResult = Object.freeze({
  SOLD: 'sold',
  UNSOLD: 'unsold',
  RESERVE_NOT_MET: 'reserve_not_met',
});

/** Audit actions that are not commands of the room. */
export const AuditAction = Object.freeze({
  INVITE_REVOKE: 'invite.revoke',
});

/** The `action` of a `mod.notice` frame (a personal notice). */
export const Notice = Object.freeze({
  TIMEOUT: 'timeout',
  BAN: 'ban',
  REVOKED: 'revoked',
});

/** WebSocket close codes (docs/protocol.md, "Close codes"). */
export const Close = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  UNSUPPORTED_DATA: 1003,
  TOO_BIG: 1009,
  INVALID_TOKEN: 4001,
  FORBIDDEN: 4003,
  SHOW_NOT_FOUND: 4004,
  BAD_VERSION: 4006,
  SLOW_CONSUMER: 4008,
  NO_PONG: 4010,
  TOO_MANY: 4029,
});

/** Who a connection is (`welcome.role`). */
export const Role = Object.freeze({
  GUEST: 'guest',
  VIEWER: 'viewer',
  CREATOR: 'creator',
  MODERATOR: 'moderator',
  CAMERA: 'camera',
});

/** A show's lifecycle (`show.status`). */
export const ShowStatus = Object.freeze({
  SCHEDULED: 'scheduled',
  LIVE: 'live',
  ENDED: 'ended',
  CANCELLED: 'cancelled',
});

/** The live room's connection state as LiveRoom reports it (and `body[data-conn]` shows). */
export const Conn = Object.freeze({
  CONNECTING: 'connecting',
  OPEN: 'open',
  RECONNECTING: 'reconnecting',
  CLOSED: 'closed',
});

/** The one ping frame, serialised once. */
export const PING_FRAME = JSON.stringify({ type: Command.PING });
