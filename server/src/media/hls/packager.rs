//! The packager of one show: the program's RTP packets (the same items WHEP program viewers
//! get) in, [`Event`]s for the window out. Per kind, the forwarder's [`Rewriter`] makes the
//! stream continuous across cuts and gaps; the `rtc` crate's H.264 depacketizer turns video
//! packets into AVC access units (one per RTP timestamp, ended by the marker bit), whose
//! SPS/PPS become the init segment's `avcC`; Opus payloads are samples as they are. Each
//! sample is held until the next one of its kind gives its duration, then handed to the
//! [`Segmenter`]. No I/O: the task in `mod.rs` feeds it and publishes what it returns.
//!
//! Clocks: each kind's rewritten RTP time, unwrapped, is placed on one media timeline by the
//! wall-clock arrival of its first packet (so audio and video line up); the PDT of a segment is
//! an anchor (a keyframe's arrival in Unix ms ↔ its media time) advanced by media time, and
//! re-anchored at every discontinuity.

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

use super::fmp4::{self, InitParams, Sample};
use super::segmenter::{Event, Segmenter};
use super::sps;
use crate::media::codec::Codec;
use crate::media::forwarder::{Rewriter, Verdict};
use crate::media::router::Item;

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
/// How long the program's first segment waits for audio before starting without it.
const AUDIO_WAIT_MS: u64 = 1000;

/// The `rtc` H.264 depacketizer, giving AVC (length-prefixed) NAL units.
fn avc_depacketizer() -> H264Packet {
    let mut depack = H264Packet::default();
    depack.is_avc = true;
    depack
}

/// Unwraps a 32-bit RTP timestamp into a 64-bit one.
#[derive(Default)]
struct Unwrap {
    last: Option<(u32, i64)>,
}

impl Unwrap {
    fn push(&mut self, ts: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(ts),
            Some((last32, last)) => last + i64::from(ts.wrapping_sub(last32) as i32),
        };
        self.last = Some((ts, ext));
        ext
    }
}

/// One kind's clock: rewritten RTP time → media ticks on the shared timeline.
struct TrackClock {
    rate: u64,
    unwrap: Unwrap,
    /// (first extended RTP time, its media ticks).
    base: Option<(i64, i64)>,
    last_ticks: i64,
}

impl TrackClock {
    fn new(rate: u32) -> TrackClock {
        TrackClock {
            rate: u64::from(rate),
            unwrap: Unwrap::default(),
            base: None,
            last_ticks: -1,
        }
    }

    /// Media ticks of a packet stamped `ts` that arrived `since_origin_ms` after the program's
    /// first packet. Never goes back.
    fn ticks(&mut self, ts: u32, since_origin_ms: u64) -> u64 {
        let ext = self.unwrap.push(ts);
        let (first, at) = *self
            .base
            .get_or_insert_with(|| (ext, (since_origin_ms * self.rate / 1000) as i64));
        let ticks = (ext - first + at).max(self.last_ticks.max(0));
        self.last_ticks = ticks;
        ticks as u64
    }
}

/// A frame whose duration is not known yet (the next one's time gives it).
struct Held {
    ticks: u64,
    sync: bool,
    data: Bytes,
    at_ms: u64,
    params: Option<InitParams>,
}

/// What the task should do after an item.
#[derive(Debug, Default)]
pub struct Step {
    pub events: Vec<Event>,
    pub want_keyframe: bool,
}

pub struct Packager {
    segmenter: Segmenter,
    /// Unix ms of the node's monotonic epoch (`Item::at_ms` counts from it).
    epoch_unix_ms: i64,
    origin_ms: Option<u64>,
    video_rw: Rewriter,
    audio_rw: Rewriter,
    video_clock: TrackClock,
    audio_clock: TrackClock,
    depack: H264Packet,
    /// The access unit being collected: its RTP time, its arrival, its NAL units so far.
    frame: Option<(u32, u64, BytesMut)>,
    last_video_seq: Option<u16>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    size: (u16, u16),
    audio_seen: bool,
    held_video: Option<Held>,
    held_audio: Option<(u64, Bytes)>,
    last_video_duration: u32,
    /// PDT anchor: (Unix ms, media ticks) of the first frame after the last discontinuity.
    anchor: Option<(i64, u64)>,
    /// Unix ms of the last arrival of a video packet that was on air.
    pub last_video_ms: Option<u64>,
    /// A segment has been started (the first one waits a little for audio).
    started: bool,
}

impl Packager {
    /// `first`: the first media sequence number and init version.
    pub fn new(part_ms: u64, segment_ms: u64, epoch_unix_ms: i64, first: u64) -> Packager {
        Packager {
            segmenter: Segmenter::new(part_ms, segment_ms).starting_at(first),
            epoch_unix_ms,
            origin_ms: None,
            video_rw: Rewriter::new(fmp4::VIDEO_RATE),
            audio_rw: Rewriter::new(fmp4::AUDIO_RATE),
            video_clock: TrackClock::new(fmp4::VIDEO_RATE),
            audio_clock: TrackClock::new(fmp4::AUDIO_RATE),
            depack: avc_depacketizer(),
            frame: None,
            last_video_seq: None,
            sps: None,
            pps: None,
            size: (0, 0),
            audio_seen: false,
            held_video: None,
            held_audio: None,
            last_video_duration: 3000,
            anchor: None,
            last_video_ms: None,
            started: false,
        }
    }

    /// One item of the program.
    pub fn push(&mut self, item: &Item) -> Step {
        match item.source.codec {
            Codec::H264 => self.video(item),
            Codec::Opus => {
                self.audio(item);
                Step::default()
            }
            Codec::Vp8 => Step::default(),
        }
    }

    fn since_origin(&mut self, at_ms: u64) -> u64 {
        let origin = *self.origin_ms.get_or_insert(at_ms);
        at_ms.saturating_sub(origin)
    }

    fn audio(&mut self, item: &Item) {
        let Verdict::Send { ts, .. } = self.audio_rw.push(item.incoming()) else {
            return;
        };
        self.audio_seen = true;
        let since = self.since_origin(item.at_ms);
        let ticks = self.audio_clock.ticks(ts, since);
        if let Some((held_ticks, data)) = self.held_audio.take() {
            let duration = ticks.saturating_sub(held_ticks);
            // A long silence (a gap, a cut): one packet's usual length instead.
            let duration = if duration == 0 || duration > 48_000 {
                960
            } else {
                duration
            };
            self.segmenter.audio(Sample {
                dts: held_ticks,
                duration: duration as u32,
                sync: true,
                data,
            });
        }
        self.held_audio = Some((ticks, item.packet.payload.clone()));
    }

    fn video(&mut self, item: &Item) -> Step {
        let mut step = Step::default();
        let (seq, ts) = match self.video_rw.push(item.incoming()) {
            Verdict::Send { seq, ts } => (seq, ts),
            Verdict::WantKeyframe => {
                step.want_keyframe = true;
                return step;
            }
            Verdict::Drop => return step,
        };
        self.last_video_ms = Some(item.at_ms);
        let lost = self
            .last_video_seq
            .is_some_and(|last| seq != last.wrapping_add(1));
        self.last_video_seq = Some(seq);
        if lost || item.after_gap {
            // The frame being collected is broken; so is any fragment the depacketizer holds.
            self.frame = None;
            self.depack = avc_depacketizer();
            if lost {
                self.video_rw.resync();
                step.want_keyframe = true;
                return step;
            }
        }
        if let Some((frame_ts, _, _)) = &self.frame
            && *frame_ts != ts
        {
            // The marker of the previous frame was lost: it ends here.
            self.finish_frame(&mut step);
        }
        let at_ms = item.at_ms;
        let (_, _, buf) = self
            .frame
            .get_or_insert_with(|| (ts, at_ms, BytesMut::new()));
        match self.depack.depacketize(&item.packet.payload) {
            Ok(nals) => buf.extend_from_slice(&nals),
            Err(_) => {
                self.frame = None;
                step.want_keyframe = true;
                return step;
            }
        }
        if item.packet.header.marker {
            self.finish_frame(&mut step);
        }
        step
    }

    /// The collected access unit is complete: its parameter sets are kept aside, the rest is a
    /// sample, held until the next frame gives its duration.
    fn finish_frame(&mut self, step: &mut Step) {
        let Some((ts, at_ms, buf)) = self.frame.take() else {
            return;
        };
        let mut sample = BytesMut::with_capacity(buf.len());
        let mut sync = false;
        let mut rest: &[u8] = &buf;
        while rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let Some(nal) = rest.get(4..4 + len) else {
                break;
            };
            rest = &rest[4 + len..];
            let Some(&header) = nal.first() else {
                continue;
            };
            match header & 0x1F {
                NAL_SPS => {
                    if let Some(size) = sps::dimensions(nal) {
                        self.size = size;
                        self.sps = Some(Bytes::copy_from_slice(nal));
                    }
                }
                NAL_PPS => self.pps = Some(Bytes::copy_from_slice(nal)),
                NAL_AUD => {}
                t => {
                    sync |= t == NAL_IDR;
                    sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    sample.extend_from_slice(nal);
                }
            }
        }
        if sample.is_empty() {
            return;
        }
        let since = self.since_origin(at_ms);
        let mut ticks = self.video_clock.ticks(ts, since);
        if sync
            && let Some(prev) = &self.held_video
            && ticks.saturating_sub(prev.ticks) < u64::from(self.last_video_duration)
        {
            // A cut: the old camera's last frame would show for less than a frame (the
            // rewriter moves the clock on by the wall-clock time since its first packet).
            // A keyframe follows, so nothing refers to it: drop it and start the new camera
            // in its place, so frames stay at least a frame apart.
            ticks = prev.ticks;
            self.held_video = None;
        }
        let params = match (&self.sps, &self.pps) {
            (Some(sps), Some(pps)) => Some(InitParams {
                sps: sps.clone(),
                pps: pps.clone(),
                width: self.size.0,
                height: self.size.1,
                audio: self.audio_seen,
            }),
            _ => None,
        };
        let held = self.held_video.replace(Held {
            ticks,
            sync,
            data: sample.freeze(),
            at_ms,
            params,
        });
        if let Some(held) = held {
            let duration = ticks.saturating_sub(held.ticks);
            let duration = if duration == 0 || duration > 90_000 {
                self.last_video_duration
            } else {
                duration as u32
            };
            self.last_video_duration = duration;
            self.emit(held, duration, step);
        }
    }

    fn emit(&mut self, held: Held, duration: u32, step: &mut Step) {
        let Some(params) = held.params else {
            step.want_keyframe = true;
            return;
        };
        if !self.started
            && !self.audio_seen
            && held
                .at_ms
                .saturating_sub(self.origin_ms.unwrap_or(held.at_ms))
                < AUDIO_WAIT_MS
        {
            // The program's first segment: its audio usually follows within milliseconds.
            // Starting without it would mean a new init (with audio) and a discontinuity at
            // the next keyframe, which some players take badly; wait for the next keyframe.
            step.want_keyframe = true;
            return;
        }
        let unix_ms = self.epoch_unix_ms + held.at_ms as i64;
        if !self.segmenter.is_open() || self.anchor.is_none() {
            // A segment may start here: a discontinuity (or the first) re-anchors the PDT.
            if held.sync {
                self.anchor = Some((unix_ms, held.ticks));
            }
        }
        let (anchor_ms, anchor_ticks) = self.anchor.unwrap_or((unix_ms, held.ticks));
        let pdt_ms = anchor_ms + (held.ticks as i64 - anchor_ticks as i64) / 90;
        let out = self.segmenter.video(
            Sample {
                dts: held.ticks,
                duration,
                sync: held.sync,
                data: held.data,
            },
            &params,
            pdt_ms,
        );
        step.want_keyframe |= out.want_keyframe;
        self.started |= self.segmenter.is_open();
        step.events.extend(out.events);
    }

    /// Nothing on air for a while: the held frame goes out with the usual duration and the
    /// open segment ends (the next starts after a discontinuity).
    pub fn gap(&mut self) -> Vec<Event> {
        let mut step = Step::default();
        if let Some(held) = self.held_video.take() {
            let duration = self.last_video_duration;
            self.emit(held, duration, &mut step);
        }
        self.held_audio = None;
        self.frame = None;
        self.anchor = None;
        step.events.extend(self.segmenter.gap());
        step.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::media_ids::CameraId;
    use crate::media::forwarder::SourceKey;
    use crate::media::router::Source;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    const SPS: [u8; 24] = [
        0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80,
    ];

    fn source() -> Arc<Source> {
        source_of(Codec::H264, 5)
    }

    fn source_of(codec: Codec, ssrc: u32) -> Arc<Source> {
        let (keyframes, _) = mpsc::channel(1);
        Arc::new(Source {
            key: SourceKey { session: 1, ssrc },
            codec,
            camera: CameraId::new("a"),
            keyframes,
        })
    }

    fn stap() -> Vec<u8> {
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut stap = vec![0x78, 0, SPS.len() as u8];
        stap.extend_from_slice(&SPS);
        stap.extend_from_slice(&[0, pps.len() as u8]);
        stap.extend_from_slice(&pps);
        stap
    }

    /// Without audio, the program's first segment waits up to a second for it: a keyframe
    /// before is passed over (with a keyframe request), one after starts a video-only init.
    /// With audio, the first keyframe starts an init with an audio track.
    #[test]
    fn the_first_segment_waits_a_little_for_audio() {
        let src = source();
        let mut p = Packager::new(500, 2000, 0, 0);
        let mut seq = 1u16;
        let mut key = |p: &mut Packager, ts: u32| {
            let mut events = Vec::new();
            let mut want = false;
            for (payload, marker) in [(stap(), false), (vec![0x65, 0x88, 1], true)] {
                let step = p.push(&item(&src, seq, ts, marker, payload));
                seq += 1;
                want |= step.want_keyframe;
                events.extend(step.events);
            }
            (events, want)
        };
        key(&mut p, 0);
        let (events, want) = key(&mut p, 3000);
        assert!(
            events.is_empty() && want,
            "the keyframe at 0 ms is passed over"
        );
        key(&mut p, 120_000);
        let (events, _) = key(&mut p, 123_000);
        assert!(
            matches!(events.first(), Some(Event::Init { .. })),
            "after a second the video starts alone: {events:?}"
        );

        let mut p = Packager::new(500, 2000, 0, 0);
        let opus = source_of(Codec::Opus, 6);
        let mut audio = item(&opus, 1, 0, true, vec![0xfc, 1, 2]);
        audio.sync = true;
        p.push(&audio);
        let mut seq = 10u16;
        let mut events = Vec::new();
        for ts in [0u32, 3000] {
            for (payload, marker) in [(stap(), false), (vec![0x65, 0x88, 1], true)] {
                events.extend(p.push(&item(&src, seq, ts, marker, payload)).events);
                seq += 1;
            }
        }
        let Some(Event::Init { bytes, .. }) = events.first() else {
            panic!("the first keyframe starts the program: {events:?}")
        };
        assert!(
            bytes.windows(4).any(|w| w == b"Opus"),
            "the init has an Opus track"
        );
    }

    fn item(src: &Arc<Source>, seq: u16, ts: u32, marker: bool, payload: Vec<u8>) -> Item {
        let mut packet = rtc::rtp::Packet::default();
        packet.header.sequence_number = seq;
        packet.header.timestamp = ts;
        packet.header.marker = marker;
        let sync = crate::media::codec::h264_keyframe_start(&payload);
        packet.payload = Bytes::from(payload);
        Item {
            source: src.clone(),
            sync,
            after_gap: false,
            at_ms: u64::from(ts / 90),
            packet,
        }
    }

    /// A STAP-A of SPS and PPS, then an IDR in two FU-A fragments, then P frames: one sample
    /// per frame, parameter sets out of the samples and in the init, the first part
    /// independent, and a gap closes the segment.
    #[test]
    fn rtp_frames_become_samples_parts_and_segments() {
        let src = source();
        let mut p = Packager::new(500, 2000, 1_700_000_000_000, 0);
        // Started a while ago (the first segment does not wait for audio).
        p.started = true;
        let stap = stap();
        let mut events = Vec::new();
        let mut seq = 100u16;
        let mut push = |p: &mut Packager, ts: u32, marker: bool, payload: Vec<u8>| {
            let step = p.push(&item(&src, seq, ts, marker, payload));
            seq += 1;
            step
        };
        assert!(
            push(&mut p, 0, true, vec![0x41, 0x9a, 1]).want_keyframe,
            "a P frame first"
        );
        events.extend(push(&mut p, 3000, false, stap).events);
        events.extend(push(&mut p, 3000, false, vec![0x7c, 0x85, 1, 2]).events);
        events.extend(push(&mut p, 3000, true, vec![0x7c, 0x45, 3, 4]).events);
        for n in 2..40u32 {
            events.extend(push(&mut p, n * 3000, true, vec![0x41, 0x9a, n as u8]).events);
        }
        events.extend(p.gap());
        let init = events
            .iter()
            .find_map(|e| match e {
                Event::Init { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .expect("an init segment");
        assert!(
            init.windows(SPS.len()).any(|w| w == SPS),
            "the SPS is in avcC"
        );
        let parts: Vec<(u32, bool, usize)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Part {
                    index,
                    independent,
                    bytes,
                    ..
                } => Some((*index, *independent, bytes.len())),
                _ => None,
            })
            .collect();
        assert_eq!(parts.len(), 3, "39 frames: 15 + 15 + 9");
        assert!(parts[0].1 && !parts[1].1);
        assert!(matches!(
            events.last(),
            Some(Event::SegmentEnd { msn: 0, .. })
        ));
        // The IDR sample is its two fragments joined, without the parameter sets.
        let Some(Event::Part { bytes, .. }) =
            events.iter().find(|e| matches!(e, Event::Part { .. }))
        else {
            unreachable!()
        };
        assert!(
            bytes
                .windows(9)
                .any(|w| w == [0, 0, 0, 5, 0x65, 1, 2, 3, 4])
        );
        assert!(!bytes.windows(SPS.len()).any(|w| w == SPS));
    }

    #[test]
    fn timestamps_unwrap() {
        let mut u = Unwrap::default();
        assert_eq!(u.push(u32::MAX - 1), i64::from(u32::MAX - 1));
        assert_eq!(u.push(2), i64::from(u32::MAX) + 3);
        assert_eq!(u.push(1), i64::from(u32::MAX) + 2);
    }
}
