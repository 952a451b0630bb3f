//! The replay playlist: the whole recording as an HLS VOD media playlist (RFC 8216bis), with
//! an `EXT-X-MAP` wherever the init version changes, `EXT-X-DISCONTINUITY` where recorded,
//! `EXT-X-PROGRAM-DATE-TIME` on every segment, and `EXT-X-DATERANGE` chapters. Pure.

use crate::store::recordings::Recording;

/// `(id, start Unix ms, title)` of each chapter shown as an `EXT-X-DATERANGE`.
pub type DateRange = (String, i64, String);

fn pdt(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\n' && *c != '\r')
        .collect()
}

/// The playlist; segment and init URIs are `{prefix}{file}` (e.g. `replay/`).
pub fn playlist(recording: &Recording, prefix: &str, dateranges: &[DateRange]) -> String {
    let segments: Vec<_> = recording
        .segments
        .iter()
        .filter(|s| s.bytes > 0 && s.duration_s > 0.0)
        .collect();
    let target = segments
        .iter()
        .map(|s| s.duration_s.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = String::with_capacity(128 + segments.len() * 96);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    out.push_str(&format!("#EXT-X-TARGETDURATION:{target}\n"));
    out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    out.push_str(&format!(
        "#EXT-X-MEDIA-SEQUENCE:{}\n",
        segments.first().map_or(0, |s| s.msn)
    ));
    let mut init = None;
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 && (seg.discontinuity || init != Some(seg.init)) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if init != Some(seg.init) {
            out.push_str(&format!(
                "#EXT-X-MAP:URI=\"{prefix}init-{}.mp4\"\n",
                seg.init
            ));
            init = Some(seg.init);
        }
        out.push_str(&format!("#EXT-X-PROGRAM-DATE-TIME:{}\n", pdt(seg.pdt_ms)));
        if i == 0 {
            for (id, start, title) in dateranges {
                out.push_str(&format!(
                    "#EXT-X-DATERANGE:ID=\"{}\",CLASS=\"com.livesale.chapter\",START-DATE=\"{}\",X-TITLE=\"{}\"\n",
                    quoted(id),
                    pdt(*start),
                    quoted(title)
                ));
            }
        }
        out.push_str(&format!(
            "#EXTINF:{:.5},\n{prefix}{}\n",
            seg.duration_s,
            seg.file()
        ));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::recordings::RecordedSegment;

    fn seg(msn: u64, init: u64, discontinuity: bool) -> RecordedSegment {
        RecordedSegment {
            msn,
            duration_s: 2.0,
            pdt_ms: 1_700_000_000_000 + msn as i64 * 2000,
            discontinuity,
            init,
            bytes: 10,
            complete: true,
            node: None,
        }
    }

    #[test]
    fn a_vod_playlist_maps_inits_and_marks_discontinuities() {
        let rec = Recording {
            segments: vec![
                seg(1, 1, false),
                seg(2, 1, false),
                seg(3, 1, true),
                seg(4, 4, false),
            ],
        };
        let text = playlist(
            &rec,
            "replay/",
            &[("c1".into(), 1_700_000_001_000, "Mug \"x\"".into())],
        );
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 2);
        assert_eq!(text.matches("#EXT-X-MAP:").count(), 2);
        assert_eq!(text.matches("#EXTINF:").count(), 4);
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 4);
        assert!(text.contains("replay/seg-4.m4s\n"));
        assert!(text.contains("X-TITLE=\"Mug x\""));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:1\n"));
    }
}
