//! The rewrite of one outgoing RTP stream (one viewer leg, one kind): a pure state machine.
//!
//! A viewer's video (or audio) track is one RTP stream with one SSRC, whose sequence numbers
//! go up by one per packet and whose timestamps move with time, whichever camera the packets
//! came from. Incoming packets carry their camera's own SSRC, numbering and clock. The
//! rewriter keeps, per leg, an offset for the sequence number and one for the timestamp, and
//! re-anchors both whenever the stream it follows changes:
//!
//! - a new source (the program cut to another camera, or the first packet ever),
//! - a gap (the viewer's queue overflowed and packets were dropped).
//!
//! Re-anchoring happens only on a sync point (the first packet of a keyframe; any Opus
//! packet), so the first packet after a cut or a gap is always something a decoder can start
//! from. At that packet the offsets are chosen so that the sequence number is the last one
//! sent plus one, and the timestamp is the last one sent advanced by the wall-clock time that
//! passed (at least one tick). Until then, packets are dropped and [`Verdict::WantKeyframe`]
//! tells the caller to ask the source for one.
//!
//! Within one source, packets keep their relative order and spacing (`in + offset`), so
//! reordering and retransmissions pass through unchanged; a straggler from before the anchor
//! (it would reuse numbers already sent) is dropped.

/// Identifies an incoming stream: the camera session and its SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey {
    pub session: u64,
    pub ssrc: u32,
}

/// What the forwarder needs to know about one incoming packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming {
    pub source: SourceKey,
    pub seq: u16,
    pub ts: u32,
    /// The packet starts something a decoder can begin with (keyframe start; any audio packet).
    pub sync_point: bool,
    /// Packets for this leg were dropped just before this one.
    pub after_gap: bool,
    /// Monotonic time of arrival, in milliseconds.
    pub now_ms: u64,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it with this sequence number and timestamp (and the leg's SSRC).
    Send { seq: u16, ts: u32 },
    /// Drop it; the leg waits for a sync point of this source, so ask the source for one.
    WantKeyframe,
    /// Drop it (a straggler from before the anchor).
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    source: SourceKey,
    /// The first incoming sequence number sent under this anchor.
    first_in_seq: u16,
    seq_offset: u16,
    ts_offset: u32,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    ts: u32,
    at_ms: u64,
}

/// The per-leg rewrite state.
#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    anchor: Option<Anchor>,
    /// A gap was seen; the next sync point re-anchors even on the same source.
    broken: bool,
    last: Option<Sent>,
    /// Packets sent and dropped, for metrics and tests.
    pub sent: u64,
    pub dropped: u64,
}

/// `a` comes after `b` in RTP sequence space (RFC 3550 wrap-around).
pub fn seq_after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl Rewriter {
    pub fn new(clock_rate: u32) -> Self {
        Rewriter {
            clock_rate: clock_rate.max(1),
            anchor: None,
            broken: false,
            last: None,
            sent: 0,
            dropped: 0,
        }
    }

    /// The source this leg currently follows, if it is in sync.
    pub fn following(&self) -> Option<SourceKey> {
        match (self.anchor, self.broken) {
            (Some(a), false) => Some(a.source),
            _ => None,
        }
    }

    /// Forgets the anchor: the next packet must be a sync point (e.g. the leg just connected).
    pub fn resync(&mut self) {
        self.broken = true;
    }

    pub fn push(&mut self, p: Incoming) -> Verdict {
        if p.after_gap {
            self.broken = true;
        }
        let in_sync = matches!(self.anchor, Some(a) if a.source == p.source) && !self.broken;
        if !in_sync {
            if !p.sync_point {
                self.dropped += 1;
                return Verdict::WantKeyframe;
            }
            self.anchor = Some(self.anchor_at(&p));
            self.broken = false;
        }
        let Some(anchor) = self.anchor else {
            return Verdict::Drop;
        };
        if seq_after(anchor.first_in_seq, p.seq) {
            // Older than the anchor: its number was already used by the previous stream.
            self.dropped += 1;
            return Verdict::Drop;
        }
        let seq = p.seq.wrapping_add(anchor.seq_offset);
        let ts = p.ts.wrapping_add(anchor.ts_offset);
        match self.last {
            Some(last) if !seq_after(seq, last.seq) => {} // a reordered or repeated packet
            _ => {
                self.last = Some(Sent {
                    seq,
                    ts,
                    at_ms: p.now_ms,
                })
            }
        }
        self.sent += 1;
        Verdict::Send { seq, ts }
    }

    /// Offsets that make `p` follow the last packet sent: next sequence number, and a
    /// timestamp advanced by the time that passed since (at least one tick).
    fn anchor_at(&self, p: &Incoming) -> Anchor {
        let (out_seq, out_ts) = match self.last {
            None => (p.seq, p.ts),
            Some(last) => {
                let elapsed_ms = p.now_ms.saturating_sub(last.at_ms);
                let ticks = (elapsed_ms.saturating_mul(u64::from(self.clock_rate)) / 1000)
                    .clamp(1, u64::from(u32::MAX / 2)) as u32;
                (last.seq.wrapping_add(1), last.ts.wrapping_add(ticks))
            }
        };
        Anchor {
            source: p.source,
            first_in_seq: p.seq,
            seq_offset: out_seq.wrapping_sub(p.seq),
            ts_offset: out_ts.wrapping_sub(p.ts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SourceKey = SourceKey {
        session: 1,
        ssrc: 0xAAAA,
    };
    const B: SourceKey = SourceKey {
        session: 2,
        ssrc: 0xBBBB,
    };

    fn pkt(source: SourceKey, seq: u16, ts: u32, key: bool, now_ms: u64) -> Incoming {
        Incoming {
            source,
            seq,
            ts,
            sync_point: key,
            after_gap: false,
            now_ms,
        }
    }

    fn sent(v: Verdict) -> (u16, u32) {
        match v {
            Verdict::Send { seq, ts } => (seq, ts),
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn waits_for_a_keyframe_then_passes_through() {
        let mut rw = Rewriter::new(90_000);
        assert_eq!(rw.push(pkt(A, 10, 1000, false, 0)), Verdict::WantKeyframe);
        assert_eq!(sent(rw.push(pkt(A, 11, 1000, true, 0))), (11, 1000));
        assert_eq!(sent(rw.push(pkt(A, 12, 4000, false, 33))), (12, 4000));
        assert_eq!(rw.following(), Some(A));
        assert_eq!(rw.sent, 2);
        assert_eq!(rw.dropped, 1);
    }

    #[test]
    fn a_cut_continues_the_sequence_and_advances_the_clock() {
        let mut rw = Rewriter::new(90_000);
        sent(rw.push(pkt(A, 100, 5_000, true, 0)));
        sent(rw.push(pkt(A, 101, 8_000, false, 33)));
        // The new source's packets before its keyframe are not sent.
        assert_eq!(
            rw.push(pkt(B, 60_000, 777, false, 40)),
            Verdict::WantKeyframe
        );
        // The cut: B's keyframe 100 ms after A's last packet.
        let (seq, ts) = sent(rw.push(pkt(B, 60_001, 1_000_000, true, 133)));
        assert_eq!(seq, 102);
        assert_eq!(ts, 8_000 + 9_000);
        let (seq, ts) = sent(rw.push(pkt(B, 60_002, 1_003_000, false, 166)));
        assert_eq!((seq, ts), (103, 8_000 + 9_000 + 3_000));
        // A straggler of A after the cut is another source: it waits for A's keyframe.
        assert_eq!(
            rw.push(pkt(A, 102, 11_000, false, 170)),
            Verdict::WantKeyframe
        );
        // And back to A on a keyframe: still contiguous.
        let (seq, _) = sent(rw.push(pkt(A, 110, 20_000, true, 200)));
        assert_eq!(seq, 104);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut rw = Rewriter::new(90_000);
        sent(rw.push(pkt(A, 65_534, u32::MAX - 10, true, 0)));
        assert_eq!(sent(rw.push(pkt(A, 65_535, u32::MAX, false, 1))).0, 65_535);
        assert_eq!(sent(rw.push(pkt(A, 0, 5, false, 2))), (0, 5));
        // Cut right after a wrap.
        assert_eq!(sent(rw.push(pkt(B, 9, 9, true, 3))).0, 1);
    }

    #[test]
    fn a_gap_waits_for_the_next_keyframe_and_closes_the_numbering() {
        let mut rw = Rewriter::new(90_000);
        sent(rw.push(pkt(A, 1, 0, true, 0)));
        sent(rw.push(pkt(A, 2, 3000, false, 33)));
        // Packets 3..=9 were dropped by the queue; 10 arrives marked after a gap.
        let mut p = pkt(A, 10, 30_000, false, 330);
        p.after_gap = true;
        assert_eq!(rw.push(p), Verdict::WantKeyframe);
        assert_eq!(rw.following(), None);
        assert_eq!(
            rw.push(pkt(A, 11, 33_000, false, 363)),
            Verdict::WantKeyframe
        );
        // The keyframe at 12 follows 2 directly.
        let (seq, ts) = sent(rw.push(pkt(A, 12, 36_000, true, 400)));
        assert_eq!(seq, 3);
        assert_eq!(ts, 3000 + 367 * 90);
        assert_eq!(sent(rw.push(pkt(A, 13, 39_000, false, 433))).0, 4);
    }

    #[test]
    fn reordering_within_a_source_is_kept_and_stragglers_before_the_anchor_dropped() {
        let mut rw = Rewriter::new(48_000);
        sent(rw.push(pkt(A, 50, 0, true, 0)));
        sent(rw.push(pkt(B, 500, 0, true, 20)));
        assert_eq!(sent(rw.push(pkt(B, 502, 1920, true, 40))).0, 53);
        // 501 arrives late: it keeps its place.
        assert_eq!(sent(rw.push(pkt(B, 501, 960, true, 41))).0, 52);
        // 499 predates the anchor on B: its number is taken by A's packet.
        assert_eq!(rw.push(pkt(B, 499, 0, true, 42)), Verdict::Drop);
        // The last sent stays the highest, so the next cut continues after 53.
        assert_eq!(sent(rw.push(pkt(A, 60, 9, true, 60))).0, 54);
    }

    #[test]
    fn the_clock_always_moves_forward_at_a_cut() {
        let mut rw = Rewriter::new(90_000);
        sent(rw.push(pkt(A, 1, 1000, true, 50)));
        // Same millisecond: one tick.
        assert_eq!(sent(rw.push(pkt(B, 7, 5, true, 50))), (2, 1001));
    }

    #[test]
    fn seq_after_handles_wrap() {
        assert!(seq_after(1, 0));
        assert!(seq_after(0, 65_535));
        assert!(!seq_after(65_535, 0));
        assert!(!seq_after(5, 5));
    }
}
