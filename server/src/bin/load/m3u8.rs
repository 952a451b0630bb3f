//! A small reader of LL-HLS media playlists (RFC 8216bis): only what a low-latency client
//! needs to follow the live edge the way hls.js does, namely the media sequence, segments, partial
//! segments and their (MSN, part) numbers, the init segments (`EXT-X-MAP`), the preload hint,
//! the server's blocking-reload capability and the end of the stream. Unknown tags are
//! ignored, as the RFC asks of clients.

use std::fmt;

/// A partial segment's place in the stream: its segment's media sequence number and its
/// index among that segment's parts (what `_HLS_msn` and `_HLS_part` name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PartId {
    pub msn: u64,
    pub part: u32,
}

impl fmt::Display for PartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.msn, self.part)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub id: PartId,
    pub uri: String,
    pub duration_s: f64,
    pub independent: bool,
    /// `GAP=YES`: the part is not available (nothing to fetch).
    pub gap: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub msn: u64,
    pub uri: String,
    pub duration_s: f64,
    /// Preceded by `EXT-X-GAP`.
    pub gap: bool,
}

/// `EXT-X-PRELOAD-HINT:TYPE=PART`: the part the server will publish next, which a client may
/// request before it exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub id: PartId,
    pub uri: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Playlist {
    pub version: Option<u32>,
    pub target_duration_s: f64,
    pub part_target_s: Option<f64>,
    pub media_sequence: u64,
    pub can_block_reload: bool,
    pub part_hold_back_s: Option<f64>,
    /// Every distinct `EXT-X-MAP` URI, in playlist order (a new one follows a change of codec
    /// parameters).
    pub maps: Vec<String>,
    pub segments: Vec<Segment>,
    pub parts: Vec<Part>,
    pub hint: Option<Hint>,
    pub ended: bool,
}

/// An attribute list (`KEY=VALUE,KEY="quoted, value"`) as (key, value) pairs, quotes removed.
pub fn attributes(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            break;
        };
        let key = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            value = q[..end].to_string();
            rest = q.get(end + 1..).unwrap_or("");
            rest = rest.trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest);
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = rest.get(end + 1..).unwrap_or("");
        }
        out.push((key, value));
        rest = rest.trim_start();
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn number<T: std::str::FromStr>(tag: &str, v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{tag}: not a number: {v:?}"))
}

impl Playlist {
    /// Parses a media playlist. Errors name the line that could not be read.
    pub fn parse(text: &str) -> Result<Playlist, String> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some("#EXTM3U") {
            return Err("not a playlist: the first line is not #EXTM3U".into());
        }
        let mut pl = Playlist::default();
        // The media sequence number of the segment being listed, and its parts so far.
        let mut msn: Option<u64> = None;
        let mut parts_of_msn: u32 = 0;
        let mut pending_extinf: Option<f64> = None;
        let mut pending_gap = false;
        for line in lines {
            let current = *msn.get_or_insert(pl.media_sequence);
            if let Some(tag) = line.strip_prefix('#') {
                let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
                match name {
                    "EXT-X-VERSION" => pl.version = Some(number(name, value)?),
                    "EXT-X-TARGETDURATION" => pl.target_duration_s = number(name, value)?,
                    "EXT-X-MEDIA-SEQUENCE" => {
                        if !pl.segments.is_empty() || !pl.parts.is_empty() {
                            return Err("EXT-X-MEDIA-SEQUENCE after the first segment".into());
                        }
                        pl.media_sequence = number(name, value)?;
                        msn = Some(pl.media_sequence);
                    }
                    "EXT-X-PART-INF" => {
                        let a = attributes(value);
                        pl.part_target_s = attr(&a, "PART-TARGET")
                            .map(|v| number(name, v))
                            .transpose()?;
                    }
                    "EXT-X-SERVER-CONTROL" => {
                        let a = attributes(value);
                        pl.can_block_reload = attr(&a, "CAN-BLOCK-RELOAD") == Some("YES");
                        pl.part_hold_back_s = attr(&a, "PART-HOLD-BACK")
                            .map(|v| number(name, v))
                            .transpose()?;
                    }
                    "EXT-X-MAP" => {
                        let a = attributes(value);
                        let uri = attr(&a, "URI").ok_or("EXT-X-MAP without URI")?;
                        if !pl.maps.iter().any(|m| m == uri) {
                            pl.maps.push(uri.to_string());
                        }
                    }
                    "EXT-X-PART" => {
                        let a = attributes(value);
                        let uri = attr(&a, "URI").ok_or("EXT-X-PART without URI")?;
                        let duration_s = number(
                            name,
                            attr(&a, "DURATION").ok_or("EXT-X-PART without DURATION")?,
                        )?;
                        pl.parts.push(Part {
                            id: PartId {
                                msn: current,
                                part: parts_of_msn,
                            },
                            uri: uri.to_string(),
                            duration_s,
                            independent: attr(&a, "INDEPENDENT") == Some("YES"),
                            gap: attr(&a, "GAP") == Some("YES"),
                        });
                        parts_of_msn += 1;
                    }
                    "EXT-X-PRELOAD-HINT" => {
                        let a = attributes(value);
                        if attr(&a, "TYPE") == Some("PART") {
                            let uri = attr(&a, "URI").ok_or("EXT-X-PRELOAD-HINT without URI")?;
                            pl.hint = Some(Hint {
                                id: PartId {
                                    msn: current,
                                    part: parts_of_msn,
                                },
                                uri: uri.to_string(),
                            });
                        }
                    }
                    "EXTINF" => {
                        let d = value.split(',').next().unwrap_or("");
                        pending_extinf = Some(number(name, d)?);
                    }
                    "EXT-X-GAP" => pending_gap = true,
                    "EXT-X-ENDLIST" => pl.ended = true,
                    _ => {}
                }
            } else {
                // A URI line ends a segment.
                let duration_s = pending_extinf
                    .take()
                    .ok_or_else(|| format!("segment URI {line:?} without EXTINF"))?;
                pl.segments.push(Segment {
                    msn: current,
                    uri: line.to_string(),
                    duration_s,
                    gap: std::mem::take(&mut pending_gap),
                });
                msn = Some(current + 1);
                parts_of_msn = 0;
            }
        }
        Ok(pl)
    }

    pub fn last_part(&self) -> Option<PartId> {
        self.parts.last().map(|p| p.id)
    }

    /// What a blocking reload asks for next (`_HLS_msn`, `_HLS_part`): the hinted part, else
    /// the part after the last one listed (the first of the next segment once the last
    /// part's segment is complete), else the segment after the last one.
    pub fn next_part(&self) -> PartId {
        if let Some(h) = &self.hint {
            return h.id;
        }
        let last_msn = self.segments.last().map(|s| s.msn);
        match self.parts.last() {
            Some(p) if last_msn.is_some_and(|m| m >= p.id.msn) => PartId {
                msn: p.id.msn + 1,
                part: 0,
            },
            Some(p) => PartId {
                msn: p.id.msn,
                part: p.id.part + 1,
            },
            None => PartId {
                msn: last_msn.map_or(self.media_sequence, |m| m + 1),
                part: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5
#EXT-X-MEDIA-SEQUENCE:41
#EXT-X-MAP:URI=\"init-1.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T14:00:00.000Z
#EXTINF:2.000,
seg-41.m4s
#EXT-X-PART:DURATION=0.500,URI=\"part-42.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI=\"part-42.1.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"part-42.2.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"part-42.3.m4s\"
#EXTINF:2.000,
seg-42.m4s
#EXT-X-PART:DURATION=0.500,URI=\"part-43.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.480,URI=\"part-43.1.m4s\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-43.2.m4s\"
";

    #[test]
    fn numbers_parts_by_segment_and_finds_the_hint() {
        let pl = Playlist::parse(LIVE).expect("parses");
        assert_eq!(pl.version, Some(9));
        assert_eq!(pl.target_duration_s, 2.0);
        assert_eq!(pl.part_target_s, Some(0.5));
        assert!(pl.can_block_reload);
        assert_eq!(pl.part_hold_back_s, Some(1.5));
        assert_eq!(pl.media_sequence, 41);
        assert_eq!(pl.maps, vec!["init-1.mp4".to_string()]);
        let segs: Vec<(u64, &str)> = pl
            .segments
            .iter()
            .map(|s| (s.msn, s.uri.as_str()))
            .collect();
        assert_eq!(segs, vec![(41, "seg-41.m4s"), (42, "seg-42.m4s")]);
        let parts: Vec<(String, &str, bool)> = pl
            .parts
            .iter()
            .map(|p| (p.id.to_string(), p.uri.as_str(), p.independent))
            .collect();
        assert_eq!(
            parts,
            vec![
                ("42.0".into(), "part-42.0.m4s", true),
                ("42.1".into(), "part-42.1.m4s", false),
                ("42.2".into(), "part-42.2.m4s", false),
                ("42.3".into(), "part-42.3.m4s", false),
                ("43.0".into(), "part-43.0.m4s", true),
                ("43.1".into(), "part-43.1.m4s", false),
            ]
        );
        assert_eq!(pl.parts[5].duration_s, 0.48);
        let hint = pl.hint.clone().expect("a hint");
        assert_eq!((hint.id.msn, hint.id.part), (43, 2));
        assert_eq!(hint.uri, "part-43.2.m4s");
        assert_eq!(pl.next_part(), PartId { msn: 43, part: 2 });
        assert!(!pl.ended);
    }

    #[test]
    fn next_part_without_a_hint() {
        // Parts of an unfinished segment: the next part of the same segment.
        let text = LIVE.replace("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-43.2.m4s\"\n", "");
        let pl = Playlist::parse(&text).expect("parses");
        assert_eq!(pl.next_part(), PartId { msn: 43, part: 2 });
        // The last part's segment is complete: the first part of the next one.
        let cut = text
            .find("#EXT-X-PART:DURATION=0.500,URI=\"part-43.0")
            .expect("cut");
        let pl = Playlist::parse(&text[..cut]).expect("parses");
        assert_eq!(pl.last_part(), Some(PartId { msn: 42, part: 3 }));
        assert_eq!(pl.next_part(), PartId { msn: 43, part: 0 });
        // No parts at all: the segment after the last.
        let pl = Playlist::parse("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2,\ns7.ts\n")
            .expect("parses");
        assert_eq!(pl.next_part(), PartId { msn: 8, part: 0 });
        let pl = Playlist::parse("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n").expect("parses");
        assert_eq!(pl.next_part(), PartId { msn: 7, part: 0 });
    }

    #[test]
    fn gaps_new_maps_and_the_end() {
        let text = "#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:3
#EXT-X-MAP:URI=\"init-1.mp4\"
#EXTINF:2.0,
seg-3.m4s
#EXT-X-GAP
#EXTINF:2.0,
seg-4.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI=\"init-2.mp4\"
#EXT-X-PART:DURATION=0.5,URI=\"part-5.0.m4s\",GAP=YES
#EXT-X-PART:DURATION=0.5,URI=\"part-5.1.m4s\"
#EXTINF:1.0,
seg-5.m4s
#EXT-X-MAP:URI=\"init-2.mp4\"
#EXT-X-ENDLIST
";
        let pl = Playlist::parse(text).expect("parses");
        assert_eq!(pl.maps, vec!["init-1.mp4", "init-2.mp4"]);
        assert!(!pl.segments[0].gap && pl.segments[1].gap && !pl.segments[2].gap);
        assert!(pl.parts[0].gap && !pl.parts[1].gap);
        assert_eq!(pl.parts[1].id, PartId { msn: 5, part: 1 });
        assert!(pl.ended);
        assert_eq!(pl.next_part(), PartId { msn: 6, part: 0 });
    }

    #[test]
    fn attribute_lists_with_quotes_and_commas() {
        let a = attributes("TYPE=PART, URI=\"a,b.m4s\",BYTERANGE-START=10 ,X=\"\"");
        assert_eq!(
            a,
            vec![
                ("TYPE".to_string(), "PART".to_string()),
                ("URI".to_string(), "a,b.m4s".to_string()),
                ("BYTERANGE-START".to_string(), "10".to_string()),
                ("X".to_string(), String::new()),
            ]
        );
        assert!(attributes("").is_empty());
        assert!(attributes("junk").is_empty());
        // An unclosed quote takes the rest of the line, without panicking.
        assert_eq!(attributes("URI=\"open")[0].1, "open");
    }

    #[test]
    fn refuses_what_is_not_a_playlist() {
        assert!(Playlist::parse("").is_err());
        assert!(Playlist::parse("{\"code\":\"hls_not_started\"}").is_err());
        assert!(Playlist::parse("#EXTM3U\nseg.m4s\n").is_err());
        assert!(Playlist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:two\n").is_err());
        assert!(Playlist::parse("#EXTM3U\n#EXT-X-PART:URI=\"p.m4s\"\n").is_err());
        assert!(Playlist::parse("#EXTM3U\n#EXTINF:2,\na.m4s\n#EXT-X-MEDIA-SEQUENCE:4\n").is_err());
    }
}
