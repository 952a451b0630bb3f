//! The live window of one show's LL-HLS program: the last `--hls-window-s` of segments (parts
//! kept for the last [`PARTS_KEPT`] segments, as RFC 8216bis 6.2.2 allows), the init segments
//! they name, the files by name, and the media playlist, rendered once per change. Pure: the
//! packager applies [`Event`]s, the HTTP side reads.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;

use bytes::Bytes;

use super::segmenter::Event;

/// Segments whose parts stay listed and served.
pub const PARTS_KEPT: usize = 3;

/// The settings the playlist declares.
#[derive(Debug, Clone, Copy)]
pub struct WindowSettings {
    pub part_target_s: f64,
    /// `EXT-X-TARGETDURATION`: never changes while the program lives.
    pub target_duration_s: u32,
    pub window_s: f64,
    /// The media sequence number of the first segment to come.
    pub first_msn: u64,
}

struct Part {
    duration: f64,
    independent: bool,
    bytes: Bytes,
}

struct Segment {
    msn: u64,
    discontinuity: bool,
    init: u64,
    pdt_ms: i64,
    parts: Vec<Part>,
    /// Its parts are no longer listed or served (it is older than the last few segments).
    parts_dropped: bool,
    /// Complete: its duration and the whole file.
    done: Option<(f64, Bytes)>,
}

/// A file of the window, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Ready(Bytes),
    /// The next part (the preload hint) or its segment: not there yet, soon.
    Soon,
    /// Rolled out of the window, or never to be made: a part past the end of a segment that
    /// is complete (the preload hint of a segment that then ended on a keyframe). A cache may
    /// keep this answer: the name will never be served.
    Gone,
    /// No such file (never was, or too far ahead).
    Missing,
}

/// What a blocking playlist request asks for (`_HLS_msn`, `_HLS_part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub msn: u64,
    pub part: Option<u32>,
}

/// Whether a blocking request can be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    Now,
    Wait,
    TooFar,
}

pub struct Window {
    settings: WindowSettings,
    segments: VecDeque<Segment>,
    inits: BTreeMap<u64, Bytes>,
    discontinuity_sequence: u64,
    ended: bool,
    playlist: Bytes,
    /// Bumped on every change (a waiter compares it).
    pub version: u64,
}

/// A file name of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileName {
    Init(u64),
    Segment(u64),
    Part(u64, u32),
}

impl FileName {
    /// `init-{V}.mp4`, `seg-{MSN}.m4s`, `part-{MSN}.{P}.m4s`.
    pub fn parse(name: &str) -> Option<FileName> {
        if let Some(v) = name
            .strip_prefix("init-")
            .and_then(|r| r.strip_suffix(".mp4"))
        {
            return v.parse().ok().map(FileName::Init);
        }
        if let Some(m) = name
            .strip_prefix("seg-")
            .and_then(|r| r.strip_suffix(".m4s"))
        {
            return m.parse().ok().map(FileName::Segment);
        }
        let rest = name.strip_prefix("part-")?.strip_suffix(".m4s")?;
        let (m, p) = rest.split_once('.')?;
        Some(FileName::Part(m.parse().ok()?, p.parse().ok()?))
    }
}

impl Window {
    pub fn new(settings: WindowSettings) -> Window {
        let mut w = Window {
            settings,
            segments: VecDeque::new(),
            inits: BTreeMap::new(),
            discontinuity_sequence: 0,
            ended: false,
            playlist: Bytes::new(),
            version: 0,
        };
        w.render();
        w
    }

    /// Whether anything was packaged yet.
    pub fn started(&self) -> bool {
        self.segments
            .iter()
            .any(|s| !s.parts.is_empty() || s.done.is_some())
    }

    pub fn playlist(&self) -> Bytes {
        self.playlist.clone()
    }

    /// The show ended: the playlist gets `EXT-X-ENDLIST`.
    pub fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.changed();
        }
    }

    pub fn apply(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        for event in events {
            match event {
                Event::Init { version, bytes } => {
                    self.inits.insert(version, bytes);
                }
                Event::SegmentStart {
                    msn,
                    discontinuity,
                    init,
                    pdt_ms,
                } => self.segments.push_back(Segment {
                    msn,
                    discontinuity,
                    init,
                    pdt_ms,
                    parts: Vec::new(),
                    parts_dropped: false,
                    done: None,
                }),
                Event::Part {
                    msn,
                    duration,
                    independent,
                    bytes,
                    ..
                } => {
                    if let Some(seg) = self.segments.back_mut().filter(|s| s.msn == msn) {
                        seg.parts.push(Part {
                            duration,
                            independent,
                            bytes,
                        });
                    }
                }
                Event::SegmentEnd { msn, duration } => {
                    if let Some(seg) = self.segments.back_mut().filter(|s| s.msn == msn) {
                        let whole: Vec<u8> = seg
                            .parts
                            .iter()
                            .flat_map(|p| p.bytes.iter().copied())
                            .collect();
                        seg.done = Some((duration, Bytes::from(whole)));
                    }
                }
            }
        }
        self.trim();
        self.changed();
    }

    fn changed(&mut self) {
        self.version += 1;
        self.render();
    }

    /// Keeps `window_s` of complete segments (and the open one); parts only for the last few.
    fn trim(&mut self) {
        let mut kept = 0.0;
        let mut keep_from = 0;
        for (i, seg) in self.segments.iter().enumerate().rev() {
            if let Some((d, _)) = &seg.done {
                if kept >= self.settings.window_s {
                    keep_from = i + 1;
                    break;
                }
                kept += d;
            }
        }
        for _ in 0..keep_from {
            if let Some(old) = self.segments.pop_front()
                && old.discontinuity
            {
                self.discontinuity_sequence += 1;
            }
        }
        let n = self.segments.len();
        for (i, seg) in self.segments.iter_mut().enumerate() {
            if i + PARTS_KEPT < n && seg.done.is_some() && !seg.parts_dropped {
                seg.parts_dropped = true;
                seg.parts.iter_mut().for_each(|p| p.bytes = Bytes::new());
            }
        }
        let first_init = self.segments.front().map(|s| s.init);
        if let Some(first) = first_init {
            self.inits.retain(|v, _| *v >= first);
        }
    }

    /// The part the preload hint names: (msn, index).
    pub fn next_part(&self) -> (u64, u32) {
        match self.segments.back() {
            Some(seg) if seg.done.is_none() => (seg.msn, seg.parts.len() as u32),
            Some(seg) => (seg.msn + 1, 0),
            None => (self.settings.first_msn, 0),
        }
    }

    /// Whether the playlist holds what a blocking request asks for.
    pub fn ready(&self, block: Block) -> Ready {
        let (next_msn, next_part) = self.next_part();
        if block.msn > next_msn + 2 {
            return Ready::TooFar;
        }
        let satisfied = match block.part {
            Some(p) => block.msn < next_msn || (block.msn == next_msn && p < next_part),
            // A whole segment: complete.
            None => self
                .segments
                .iter()
                .any(|s| s.msn >= block.msn && s.done.is_some()),
        };
        if satisfied || self.ended {
            Ready::Now
        } else {
            Ready::Wait
        }
    }

    pub fn file(&self, name: FileName) -> Lookup {
        match name {
            FileName::Init(v) => match self.inits.get(&v) {
                Some(b) => Lookup::Ready(b.clone()),
                None if self.inits.keys().next_back().is_some_and(|last| v < *last) => Lookup::Gone,
                None => Lookup::Missing,
            },
            FileName::Segment(msn) => match self.segment(msn) {
                Some(seg) => match &seg.done {
                    Some((_, bytes)) => Lookup::Ready(bytes.clone()),
                    None => Lookup::Soon,
                },
                None => self.absent(msn, 0),
            },
            FileName::Part(msn, index) => match self.segment(msn) {
                Some(seg) if seg.parts_dropped => Lookup::Gone,
                Some(seg) => match seg.parts.get(index as usize) {
                    Some(p) => Lookup::Ready(p.bytes.clone()),
                    None if seg.done.is_some() => Lookup::Gone,
                    None if index as usize == seg.parts.len() => Lookup::Soon,
                    None => Lookup::Missing,
                },
                None => self.absent(msn, index),
            },
        }
    }

    fn segment(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        let seg = self
            .segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)?;
        (seg.msn == msn).then_some(seg)
    }

    /// A file of a segment the window does not hold: rolled out, the hinted next one, or none.
    fn absent(&self, msn: u64, index: u32) -> Lookup {
        if self.ended {
            return Lookup::Missing;
        }
        if self.segments.front().is_some_and(|s| msn < s.msn) {
            return Lookup::Gone;
        }
        if self.next_part() == (msn, index) {
            Lookup::Soon
        } else {
            Lookup::Missing
        }
    }

    fn render(&mut self) {
        let s = &self.settings;
        let mut out = String::with_capacity(4096);
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:{}\n\
             #EXT-X-PART-INF:PART-TARGET={:.3}\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}\n\
             #EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n",
            s.target_duration_s,
            s.part_target_s,
            s.part_target_s * 3.0,
            self.segments.front().map_or(0, |s| s.msn),
            self.discontinuity_sequence,
        );
        let mut init = None;
        for seg in &self.segments {
            if seg.parts.is_empty() && seg.done.is_none() {
                continue;
            }
            if seg.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if init != Some(seg.init) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", seg.init);
                init = Some(seg.init);
            }
            let pdt = chrono::DateTime::from_timestamp_millis(seg.pdt_ms).unwrap_or_default();
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                pdt.format("%Y-%m-%dT%H:%M:%S%.3fZ")
            );
            if !seg.parts_dropped {
                for (i, p) in seg.parts.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "#EXT-X-PART:DURATION={:.5},URI=\"part-{}.{i}.m4s\"{}",
                        p.duration,
                        seg.msn,
                        if p.independent {
                            ",INDEPENDENT=YES"
                        } else {
                            ""
                        }
                    );
                }
            }
            if let Some((d, _)) = &seg.done {
                let _ = writeln!(out, "#EXTINF:{d:.5},\nseg-{}.m4s", seg.msn);
            }
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        } else if self.started() {
            let (msn, part) = self.next_part();
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-{msn}.{part}.m4s\""
            );
        }
        self.playlist = Bytes::from(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WindowSettings {
        WindowSettings {
            part_target_s: 0.5,
            target_duration_s: 4,
            window_s: 6.0,
            first_msn: 0,
        }
    }

    fn start(msn: u64, discontinuity: bool, init: u64) -> Event {
        Event::SegmentStart {
            msn,
            discontinuity,
            init,
            pdt_ms: 1_700_000_000_000 + msn as i64 * 2000,
        }
    }

    fn part(msn: u64, index: u32) -> Event {
        Event::Part {
            msn,
            index,
            duration: 0.5,
            independent: index == 0,
            bytes: Bytes::from(vec![msn as u8, index as u8]),
        }
    }

    fn segment(w: &mut Window, msn: u64, discontinuity: bool, init: u64) {
        let mut events = vec![start(msn, discontinuity, init)];
        events.extend((0..4).map(|i| part(msn, i)));
        events.push(Event::SegmentEnd { msn, duration: 2.0 });
        w.apply(events);
    }

    fn text(w: &Window) -> String {
        String::from_utf8(w.playlist().to_vec()).unwrap()
    }

    #[test]
    fn the_playlist_lists_segments_parts_and_the_hint() {
        let mut w = Window::new(settings());
        assert!(!w.started());
        w.apply(vec![Event::Init {
            version: 1,
            bytes: Bytes::from_static(b"init"),
        }]);
        segment(&mut w, 0, false, 1);
        w.apply(vec![start(1, false, 1), part(1, 0)]);
        let t = text(&w);
        for line in [
            "#EXT-X-VERSION:9",
            "#EXT-X-TARGETDURATION:4",
            "#EXT-X-PART-INF:PART-TARGET=0.500",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            "#EXT-X-MAP:URI=\"init-1.mp4\"",
            "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z",
            "#EXT-X-PART:DURATION=0.50000,URI=\"part-0.0.m4s\",INDEPENDENT=YES",
            "#EXT-X-PART:DURATION=0.50000,URI=\"part-0.1.m4s\"",
            "#EXTINF:2.00000,\nseg-0.m4s",
            "#EXT-X-PART:DURATION=0.50000,URI=\"part-1.0.m4s\",INDEPENDENT=YES",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-1.1.m4s\"",
        ] {
            assert!(t.contains(line), "{line} missing from\n{t}");
        }
        assert_eq!(t.matches("#EXT-X-MAP").count(), 1);
        assert!(!t.contains("ENDLIST"));
        // Files.
        assert_eq!(
            w.file(FileName::Segment(0)),
            Lookup::Ready(Bytes::from_static(&[0, 0, 0, 1, 0, 2, 0, 3]))
        );
        assert_eq!(w.file(FileName::Part(1, 1)), Lookup::Soon);
        assert_eq!(w.file(FileName::Part(1, 2)), Lookup::Missing);
        assert_eq!(w.file(FileName::Segment(1)), Lookup::Soon);
        assert_eq!(w.file(FileName::Segment(9)), Lookup::Missing);
        assert!(matches!(w.file(FileName::Init(1)), Lookup::Ready(_)));
        // Blocking.
        let b = |msn, part| Block { msn, part };
        assert_eq!(w.ready(b(1, Some(0))), Ready::Now);
        assert_eq!(w.ready(b(1, Some(1))), Ready::Wait);
        assert_eq!(w.ready(b(0, None)), Ready::Now);
        assert_eq!(w.ready(b(1, None)), Ready::Wait);
        assert_eq!(w.ready(b(3, Some(0))), Ready::Wait);
        assert_eq!(w.ready(b(4, None)), Ready::TooFar);
        w.end();
        let t = text(&w);
        assert!(t.ends_with("#EXT-X-ENDLIST\n") && !t.contains("PRELOAD-HINT"));
        assert_eq!(w.ready(b(3, Some(0))), Ready::Now);
    }

    #[test]
    fn the_window_rolls_segments_out_and_counts_discontinuities() {
        let mut w = Window::new(WindowSettings {
            window_s: 10.0,
            ..settings()
        });
        w.apply(vec![Event::Init {
            version: 1,
            bytes: Bytes::from_static(b"a"),
        }]);
        segment(&mut w, 0, false, 1);
        segment(&mut w, 1, true, 1);
        w.apply(vec![Event::Init {
            version: 2,
            bytes: Bytes::from_static(b"b"),
        }]);
        for msn in 2..8 {
            segment(&mut w, msn, msn == 2, 2);
        }
        let t = text(&w);
        // 10 s of 2 s segments.
        assert!(t.contains("#EXT-X-MEDIA-SEQUENCE:3"), "{t}");
        assert!(t.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2"), "{t}");
        assert!(!t.contains("#EXT-X-DISCONTINUITY\n"));
        assert_eq!(w.file(FileName::Segment(2)), Lookup::Gone);
        assert_eq!(w.file(FileName::Part(1, 0)), Lookup::Gone);
        assert_eq!(w.file(FileName::Init(1)), Lookup::Gone);
        // Parts only for the last three segments.
        assert_eq!(w.file(FileName::Part(4, 0)), Lookup::Gone);
        assert!(matches!(w.file(FileName::Part(5, 0)), Lookup::Ready(_)));
        assert!(!t.contains("part-4.0.m4s") && t.contains("part-5.0.m4s"));
        assert!(t.contains("seg-4.m4s"));
        assert!(t.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-8.0.m4s\""));
        assert_eq!(w.file(FileName::Part(8, 0)), Lookup::Soon);
        assert_eq!(w.file(FileName::Part(8, 1)), Lookup::Missing);
    }

    /// The hint names the open segment's next part; when the segment then ends on a keyframe
    /// that part is never made, and saying so is final (caches may keep it), while a part
    /// beyond the hint of an open segment may still come.
    #[test]
    fn a_hinted_part_of_a_segment_that_ended_is_gone_for_good() {
        let mut w = Window::new(settings());
        w.apply(vec![Event::Init {
            version: 1,
            bytes: Bytes::from_static(b"a"),
        }]);
        w.apply(vec![start(0, false, 1), part(0, 0), part(0, 1)]);
        assert!(text(&w).contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-0.2.m4s\""));
        assert_eq!(w.file(FileName::Part(0, 2)), Lookup::Soon);
        assert_eq!(w.file(FileName::Part(0, 3)), Lookup::Missing);
        w.apply(vec![Event::SegmentEnd {
            msn: 0,
            duration: 1.0,
        }]);
        assert_eq!(w.file(FileName::Part(0, 2)), Lookup::Gone);
        assert_eq!(w.file(FileName::Part(0, 3)), Lookup::Gone);
        assert!(matches!(w.file(FileName::Part(0, 1)), Lookup::Ready(_)));
    }

    #[test]
    fn file_names_parse_and_nothing_else_does() {
        assert_eq!(FileName::parse("init-3.mp4"), Some(FileName::Init(3)));
        assert_eq!(FileName::parse("seg-12.m4s"), Some(FileName::Segment(12)));
        assert_eq!(
            FileName::parse("part-12.3.m4s"),
            Some(FileName::Part(12, 3))
        );
        for bad in [
            "",
            "seg-.m4s",
            "part-1.m4s",
            "part-a.1.m4s",
            "x.mp4",
            "seg-1.mp4",
        ] {
            assert_eq!(FileName::parse(bad), None, "{bad}");
        }
    }
}
