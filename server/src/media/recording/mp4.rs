//! `recording.mp4`: the whole recording joined into one fragmented MP4 that players and
//! ffprobe read as a file: the first init's `ftyp` + `moov` with the program's duration
//! (`mvhd` and `mvex/mehd`), then every segment's fragments with their decode times moved so
//! that each segment starts at its wall-clock time since the first (its PDT): the MP4's time
//! is the replay's `at_ms` (chapters), an off-air gap or a restart is a pause in it, and the
//! decode times of a restarted packager (from 0 again) never go back. Fragment numbers count
//! up. One sample description: that of the first init with an audio track (else the first
//! init); another init with other video parameters (another picture size) is listed in the
//! replay playlist but not re-described here (docs/replay.md "Limits"). Pure file work.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use mp4_atom::{Any, Decode, Encode, Mehd};

use crate::media::hls::fmp4::{AUDIO_RATE, AUDIO_TRACK, VIDEO_RATE, VIDEO_TRACK};

use crate::store::recordings::{RecordedSegment, Recording};

fn rate(track: u32) -> f64 {
    if track == VIDEO_TRACK {
        f64::from(VIDEO_RATE)
    } else {
        f64::from(AUDIO_RATE)
    }
}

fn bad(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Writes the joined MP4 of `recording` (files in `dir`) to `out`; returns its size.
pub fn join(dir: &Path, recording: &Recording, out: &Path) -> Result<u64, String> {
    let segments: Vec<_> = recording
        .segments
        .iter()
        .filter(|s| s.bytes > 0 && s.duration_s > 0.0)
        .collect();
    let first = segments.first().ok_or("nothing recorded")?;
    let last = segments.last().unwrap_or(first);
    let total_ms =
        (last.pdt_ms - first.pdt_ms).max(0) as u64 + (last.duration_s * 1000.0).round() as u64;
    let head = head(&description(dir, &segments)?, total_ms)?;
    let tmp = out.with_extension("mp4.tmp");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(bad)?);
    file.write_all(&head).map_err(bad)?;
    let mut written = head.len() as u64;
    let mut timeline = Timeline {
        origin_ms: first.pdt_ms,
        ..Timeline::default()
    };
    for seg in &segments {
        let data = std::fs::read(dir.join(seg.file())).map_err(bad)?;
        let data = &data[..(seg.bytes as usize).min(data.len())];
        let mut buf = std::io::Cursor::new(data);
        let mut first_fragment = true;
        while (buf.position() as usize) < data.len() {
            let start = buf.position() as usize;
            let Ok(atom) = Any::decode(&mut buf) else {
                break; // a part cut short: the rest is not played
            };
            let original = buf.position() as usize - start;
            match atom {
                Any::Moof(mut moof) => {
                    if std::mem::take(&mut first_fragment) {
                        timeline.segment_starts(&moof, seg.pdt_ms);
                    }
                    let bytes = timeline.moved(&mut moof, original)?;
                    file.write_all(&bytes).map_err(bad)?;
                    written += bytes.len() as u64;
                }
                Any::Mdat(_) => {
                    file.write_all(&data[start..start + original])
                        .map_err(bad)?;
                    written += original as u64;
                }
                _ => {}
            }
        }
    }
    file.flush().map_err(bad)?;
    drop(file);
    std::fs::rename(&tmp, out).map_err(bad)?;
    Ok(written)
}

/// The init whose `moov` describes the joined file: the first with an audio track (a program
/// whose audio came late starts with a video-only init), else the first.
fn description(dir: &Path, segments: &[&RecordedSegment]) -> Result<Vec<u8>, String> {
    let mut versions: Vec<u64> = segments.iter().map(|s| s.init).collect();
    versions.dedup();
    let mut first = None;
    for v in versions {
        let Ok(init) = std::fs::read(dir.join(format!("init-{v}.mp4"))) else {
            continue;
        };
        let mut buf = std::io::Cursor::new(init.as_slice());
        let mut tracks = 0;
        while (buf.position() as usize) < init.len() {
            match Any::decode(&mut buf) {
                Ok(Any::Moov(moov)) => tracks = moov.trak.len(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if tracks >= 2 {
            return Ok(init);
        }
        first.get_or_insert(init);
    }
    first.ok_or_else(|| "no init segment".to_string())
}

/// The init's `ftyp` and `moov`, with the duration in `mvhd` and `mvex/mehd`.
fn head(init: &[u8], total_ms: u64) -> Result<Vec<u8>, String> {
    let mut buf = std::io::Cursor::new(init);
    let mut head = Vec::new();
    while (buf.position() as usize) < init.len() {
        match Any::decode(&mut buf).map_err(bad)? {
            Any::Ftyp(f) => f.encode(&mut head).map_err(bad)?,
            Any::Moov(mut moov) => {
                moov.mvhd.duration = total_ms * u64::from(moov.mvhd.timescale) / 1000;
                if let Some(mvex) = moov.mvex.as_mut() {
                    mvex.mehd = Some(Mehd {
                        fragment_duration: moov.mvhd.duration,
                    });
                }
                moov.encode(&mut head).map_err(bad)?;
            }
            _ => {}
        }
    }
    Ok(head)
}

/// Where each track's decode times go in the joined file.
#[derive(Default)]
struct Timeline {
    origin_ms: i64,
    /// Per track: where its timeline ends so far (track ticks).
    ends: HashMap<u32, u64>,
    /// Per track: ticks added to the decode times of the current segment.
    shift: HashMap<u32, i64>,
    sequence: u32,
}

impl Timeline {
    /// A segment starts with `moof`: it is placed at its wall-clock time since the origin (its
    /// PDT), so the MP4's time is the replay's `at_ms` across gaps and restarts. The same
    /// shift (in seconds) for every track keeps them in sync.
    fn segment_starts(&mut self, moof: &mp4_atom::Moof, pdt_ms: i64) {
        let first_v = moof
            .traf
            .iter()
            .find(|t| t.tfhd.track_id == VIDEO_TRACK)
            .or(moof.traf.first())
            .map_or(0.0, |t| {
                let at = t.tfdt.as_ref().map_or(0, |d| d.base_media_decode_time);
                at as f64 / rate(t.tfhd.track_id)
            });
        let shift_s = (pdt_ms - self.origin_ms) as f64 / 1000.0 - first_v;
        for track in [VIDEO_TRACK, AUDIO_TRACK] {
            self.shift
                .insert(track, (shift_s * rate(track)).round() as i64);
        }
    }

    /// The fragment with its decode times moved and its number in sequence, encoded
    /// (`original`: its size before, which its data offsets count from).
    fn moved(&mut self, moof: &mut mp4_atom::Moof, original: usize) -> Result<Vec<u8>, String> {
        self.sequence += 1;
        moof.mfhd.sequence_number = self.sequence;
        for traf in moof.traf.iter_mut() {
            let track = traf.tfhd.track_id;
            let s = self.shift.get(&track).copied().unwrap_or(0);
            let end = self.ends.get(&track).copied().unwrap_or(0);
            let at = traf.tfdt.as_ref().map_or(0, |d| d.base_media_decode_time);
            // Never before the track's end (no overlap at a discontinuity).
            let at = ((at as i64 + s).max(0) as u64).max(end);
            if let Some(tfdt) = traf.tfdt.as_mut() {
                tfdt.base_media_decode_time = at;
            }
            let default = traf.tfhd.default_sample_duration.unwrap_or(0);
            let length: u64 = traf
                .trun
                .iter()
                .flat_map(|t| t.samples.iter())
                .map(|e| u64::from(e.duration.unwrap_or(default)))
                .sum();
            self.ends.insert(track, at + length);
        }
        let mut bytes = Vec::with_capacity(original);
        moof.encode(&mut bytes).map_err(bad)?;
        if bytes.len() != original {
            // The data offsets count from the moof's start: move them too.
            let delta = bytes.len() as i32 - original as i32;
            for trun in moof.traf.iter_mut().flat_map(|t| t.trun.iter_mut()) {
                if let Some(o) = trun.data_offset.as_mut() {
                    *o += delta;
                }
            }
            bytes.clear();
            moof.encode(&mut bytes).map_err(bad)?;
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::hls::fmp4::{InitParams, Sample, fragment, init};
    use bytes::Bytes;

    fn samples(dts: u64, n: u64, step: u64) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                dts: dts + i * step,
                duration: step as u32,
                sync: i == 0,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            })
            .collect()
    }

    /// Two runs of a program (a restart: decode times start again at 0) join into one
    /// timeline with the program's duration in mehd.
    #[test]
    fn a_restart_joins_into_one_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let params = InitParams {
            sps: Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb]),
            pps: Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]),
            width: 320,
            height: 240,
            audio: false,
        };
        std::fs::write(dir.path().join("init-1.mp4"), init(&params).unwrap()).unwrap();
        let a = fragment(1, &samples(0, 60, 3000), &[]).unwrap();
        let b = fragment(1, &samples(0, 30, 3000), &[]).unwrap();
        std::fs::write(dir.path().join("seg-1.m4s"), &a).unwrap();
        std::fs::write(dir.path().join("seg-9.m4s"), &b).unwrap();
        let seg = |msn: u64, d: f64, bytes: usize, disc: bool| RecordedSegment {
            msn,
            duration_s: d,
            // The second run starts as the first ends.
            pdt_ms: if msn == 1 { 0 } else { 2000 },
            discontinuity: disc,
            init: 1,
            bytes: bytes as u64,
            complete: true,
            node: None,
        };
        let rec = Recording {
            segments: vec![seg(1, 2.0, a.len(), false), seg(9, 1.0, b.len(), true)],
        };
        let out = dir.path().join(super::super::MP4_NAME);
        join(dir.path(), &rec, &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let mut buf = std::io::Cursor::new(bytes.as_slice());
        let mut tfdts = Vec::new();
        let mut mehd = None;
        while (buf.position() as usize) < bytes.len() {
            match Any::decode(&mut buf).unwrap() {
                Any::Moov(m) => mehd = m.mvex.and_then(|x| x.mehd).map(|m| m.fragment_duration),
                Any::Moof(m) => tfdts.push(m.traf[0].tfdt.as_ref().unwrap().base_media_decode_time),
                _ => {}
            }
        }
        assert_eq!(mehd, Some(3000));
        assert_eq!(tfdts, vec![0, 180_000]);
    }

    /// A program whose audio came late starts with a video-only init: the MP4 is described
    /// by the later init with both tracks.
    #[test]
    fn the_description_is_the_first_init_with_audio() {
        let dir = tempfile::tempdir().unwrap();
        let params = |audio| InitParams {
            sps: Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb]),
            pps: Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]),
            width: 320,
            height: 240,
            audio,
        };
        let video_only = init(&params(false)).unwrap();
        let both = init(&params(true)).unwrap();
        std::fs::write(dir.path().join("init-1.mp4"), &video_only).unwrap();
        std::fs::write(dir.path().join("init-5.mp4"), &both).unwrap();
        let seg = |msn: u64, init: u64| RecordedSegment {
            msn,
            duration_s: 2.0,
            pdt_ms: 0,
            discontinuity: false,
            init,
            bytes: 1,
            complete: true,
            node: None,
        };
        let (a, b) = (seg(1, 1), seg(5, 5));
        assert_eq!(description(dir.path(), &[&a, &b]).unwrap(), both.to_vec());
        assert_eq!(description(dir.path(), &[&a]).unwrap(), video_only.to_vec());
    }
}
