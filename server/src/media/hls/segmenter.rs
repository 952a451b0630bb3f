//! The segmenter: timed samples in, LL-HLS events out ([`Event`]). Pure.
//!
//! Video drives the cuts. A segment starts on a keyframe: the first one, the first after a gap,
//! the first with new codec parameters (a new init version, and a discontinuity), or the first
//! once the segment has reached its target duration. Parts are cut so that none is longer than
//! the part target: a part is published as soon as the next frame of the same duration would
//! not fit. A part is independent when it starts with a keyframe. Audio samples go into the
//! part that is open when they arrive (none before the first segment). When a segment has run
//! to 1.5× its target without a keyframe, the caller is told to ask the camera for one.

use bytes::Bytes;

use super::fmp4::{self, InitParams, Sample};

/// What the window learns from the segmenter.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new init segment.
    Init { version: u64, bytes: Bytes },
    /// A segment begins (its parts follow).
    SegmentStart {
        msn: u64,
        discontinuity: bool,
        init: u64,
        /// Unix milliseconds of its first frame (`EXT-X-PROGRAM-DATE-TIME`).
        pdt_ms: i64,
    },
    /// A part of the open segment is complete.
    Part {
        msn: u64,
        index: u32,
        duration: f64,
        independent: bool,
        bytes: Bytes,
    },
    /// The open segment is complete.
    SegmentEnd { msn: u64, duration: f64 },
}

#[derive(Default)]
struct PartBuf {
    video: Vec<Sample>,
    audio: Vec<Sample>,
    ticks: u64,
}

struct Open {
    msn: u64,
    ticks: u64,
    parts: u32,
    part: PartBuf,
    asked_keyframe: bool,
}

pub struct Segmenter {
    part_ticks: u64,
    segment_ticks: u64,
    next_msn: u64,
    sequence: u32,
    init: Option<(u64, InitParams)>,
    /// The first init version and media sequence number (see [`Segmenter::starting_at`]).
    first: u64,
    open: Option<Open>,
    /// The next segment follows a gap.
    after_gap: bool,
}

/// What one video sample brought: events, and whether to ask the camera for a keyframe.
#[derive(Debug, Default)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub want_keyframe: bool,
}

impl Segmenter {
    /// Parts of `part_ms`, segments of about `segment_ms`.
    pub fn new(part_ms: u64, segment_ms: u64) -> Segmenter {
        let ticks = |ms: u64| ms.max(1) * u64::from(fmp4::VIDEO_RATE) / 1000;
        Segmenter {
            part_ticks: ticks(part_ms),
            segment_ticks: ticks(segment_ms).max(ticks(part_ms)),
            next_msn: 0,
            first: 0,
            sequence: 0,
            init: None,
            open: None,
            after_gap: false,
        }
    }

    /// Numbers media sequences and init versions from `first` (a program that starts again,
    /// after a restart or after being forgotten, must never reuse a name a cache holds).
    pub fn starting_at(mut self, first: u64) -> Segmenter {
        self.first = first;
        self.next_msn = first;
        self
    }

    /// Whether a segment is open (the program is flowing).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Whether the current init has an audio track.
    pub fn has_audio(&self) -> bool {
        self.init.as_ref().is_some_and(|(_, p)| p.audio)
    }

    /// A video sample (with its duration known), its codec parameters, and the wall-clock
    /// time its frame reached the server.
    pub fn video(&mut self, sample: Sample, params: &InitParams, pdt_ms: i64) -> Outcome {
        let mut out = Outcome::default();
        let new_init = self.init.as_ref().map(|(_, p)| p) != Some(params);
        if let Some(open) = &self.open {
            let full = open.ticks >= self.segment_ticks;
            if sample.sync && (new_init || full) {
                self.close(&mut out.events);
            } else if new_init {
                // New parameters without a keyframe: nothing can decode it; wait.
                out.want_keyframe = true;
                return out;
            }
        }
        if self.open.is_none() {
            if !sample.sync {
                out.want_keyframe = true;
                return out;
            }
            let mut discontinuity = self.after_gap;
            let version = match &self.init {
                Some((v, _)) if !new_init => *v,
                other => {
                    let version = other.as_ref().map_or(self.first, |(v, _)| v + 1);
                    discontinuity |= other.is_some();
                    match fmp4::init(params) {
                        Ok(bytes) => out.events.push(Event::Init { version, bytes }),
                        Err(e) => {
                            tracing::warn!(error = %e, "an init segment could not be written");
                            return out;
                        }
                    }
                    self.init = Some((version, params.clone()));
                    version
                }
            };
            self.after_gap = false;
            out.events.push(Event::SegmentStart {
                msn: self.next_msn,
                discontinuity,
                init: version,
                pdt_ms,
            });
            self.open = Some(Open {
                msn: self.next_msn,
                ticks: 0,
                parts: 0,
                part: PartBuf::default(),
                asked_keyframe: false,
            });
            self.next_msn += 1;
        }
        let duration = u64::from(sample.duration);
        let part_ticks = self.part_ticks;
        let segment_ticks = self.segment_ticks;
        let Some(open) = self.open.as_mut() else {
            return out;
        };
        if open.part.ticks > 0 && open.part.ticks + duration > part_ticks {
            self.flush(&mut out.events);
        }
        let Some(open) = self.open.as_mut() else {
            return out;
        };
        open.part.ticks += duration;
        open.ticks += duration;
        open.part.video.push(sample);
        if !open.asked_keyframe && open.ticks * 2 >= segment_ticks * 3 {
            open.asked_keyframe = true;
            out.want_keyframe = true;
        }
        if open.part.ticks + duration > part_ticks {
            self.flush(&mut out.events);
        }
        out
    }

    /// An audio sample: into the open part, if any and if the init has audio.
    pub fn audio(&mut self, sample: Sample) {
        if !self.has_audio() {
            return;
        }
        if let Some(open) = self.open.as_mut() {
            open.part.audio.push(sample);
        }
    }

    /// Nothing is on air: the open segment ends here, and the next one starts after a
    /// discontinuity.
    pub fn gap(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        if self.open.is_some() {
            self.close(&mut events);
            self.after_gap = true;
        }
        events
    }

    fn flush(&mut self, events: &mut Vec<Event>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.part.video.is_empty() {
            return;
        }
        let part = std::mem::take(&mut open.part);
        self.sequence = self.sequence.wrapping_add(1);
        let independent = part.video.first().is_some_and(|s| s.sync);
        match fmp4::fragment(self.sequence, &part.video, &part.audio) {
            Ok(bytes) => {
                events.push(Event::Part {
                    msn: open.msn,
                    index: open.parts,
                    duration: part.ticks as f64 / f64::from(fmp4::VIDEO_RATE),
                    independent,
                    bytes,
                });
                open.parts += 1;
            }
            Err(e) => tracing::warn!(error = %e, "a part could not be written"),
        }
    }

    fn close(&mut self, events: &mut Vec<Event>) {
        self.flush(events);
        if let Some(open) = self.open.take() {
            if open.parts == 0 {
                return;
            }
            events.push(Event::SegmentEnd {
                msn: open.msn,
                duration: open.ticks as f64 / f64::from(fmp4::VIDEO_RATE),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(sps: u8) -> InitParams {
        InitParams {
            sps: Bytes::from(vec![0x67, 0x42, 0xc0, sps]),
            pps: Bytes::from_static(&[0x68, 0xce]),
            width: 320,
            height: 240,
            audio: false,
        }
    }

    fn frame(n: u64, sync: bool) -> Sample {
        Sample {
            dts: n * 3000,
            duration: 3000,
            sync,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x41]),
        }
    }

    fn kinds(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Init { version, .. } => format!("init{version}"),
                Event::SegmentStart {
                    msn, discontinuity, ..
                } => format!("start{msn}{}", if *discontinuity { "d" } else { "" }),
                Event::Part {
                    msn,
                    index,
                    independent,
                    duration,
                    ..
                } => {
                    assert!(
                        *duration <= 0.5 + 1e-9,
                        "a part over the target: {duration}"
                    );
                    format!("part{msn}.{index}{}", if *independent { "i" } else { "" })
                }
                Event::SegmentEnd { msn, .. } => format!("end{msn}"),
            })
            .collect()
    }

    /// 30 fps, a keyframe every 60 frames: 2 s segments of four 0.5 s parts, the first of each
    /// independent; frames before the first keyframe are refused with a keyframe request.
    #[test]
    fn segments_start_on_keyframes_and_parts_stay_under_the_target() {
        let mut s = Segmenter::new(500, 2000).starting_at(1);
        let p = params(1);
        let out = s.video(frame(0, false), &p, 0);
        assert!(out.events.is_empty() && out.want_keyframe);
        let mut events = Vec::new();
        for n in 1..=121 {
            let out = s.video(frame(n, n % 60 == 1), &p, 0);
            events.extend(out.events);
        }
        assert_eq!(
            kinds(&events),
            [
                "init1", "start1", "part1.0i", "part1.1", "part1.2", "part1.3", "end1", "start2",
                "part2.0i", "part2.1", "part2.2", "part2.3", "end2", "start3"
            ]
        );
    }

    /// A long segment asks for a keyframe once; new parameters start a new init and a
    /// discontinuity at their keyframe; a gap closes the segment and the next starts after a
    /// discontinuity with the same init.
    #[test]
    fn long_segments_ask_for_keyframes_and_changes_and_gaps_are_discontinuities() {
        let mut s = Segmenter::new(500, 2000).starting_at(1);
        let (a, b) = (params(1), params(2));
        let mut asks = 0;
        let mut events = Vec::new();
        for n in 0..100 {
            let out = s.video(frame(n, n == 0), &a, 0);
            asks += usize::from(out.want_keyframe);
            events.extend(out.events);
        }
        assert_eq!(asks, 1, "asked once at 1.5x the target");
        events.clear();
        events.extend(s.video(frame(100, true), &b, 0).events);
        assert_eq!(kinds(&events), ["part1.6", "end1", "init2", "start2d"]);
        events.clear();
        events.extend(s.gap());
        assert_eq!(kinds(&events), ["part2.0i", "end2"]);
        assert!(s.gap().is_empty(), "a second gap changes nothing");
        let out = s.video(frame(200, false), &b, 0);
        assert!(out.want_keyframe && out.events.is_empty());
        let out = s.video(frame(201, true), &b, 0);
        assert_eq!(kinds(&out.events), ["start3d"]);
    }

    /// Audio goes into the open part only when the init declares it.
    #[test]
    fn audio_joins_the_open_part_when_the_init_has_audio() {
        let mut s = Segmenter::new(500, 2000).starting_at(1);
        let mut p = params(1);
        p.audio = true;
        let opus = |n: u64| Sample {
            dts: n * 960,
            duration: 960,
            sync: true,
            data: Bytes::from_static(&[0xfc, 0, 0]),
        };
        s.audio(opus(0));
        s.video(frame(0, true), &p, 0);
        assert!(s.has_audio());
        s.audio(opus(1));
        assert_eq!(s.open.as_ref().unwrap().part.audio.len(), 1);
    }
}
