//! A look at an offer before any connection is built: which media sections it has, in which
//! direction, and which of our codec families it offers. Pure text parsing, unit-tested; the
//! real parse and negotiation are the WebRTC stack's.

use super::codec::Codec;

/// One `m=` section of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `audio`, `video`, `application`, …
    pub kind: String,
    /// A rejected or disabled section has port 0 (and bundle-only sections too, so this is
    /// not used to reject).
    pub port: u16,
    /// `sendrecv` when the section says nothing.
    pub direction: String,
    /// Our codec families this section offers, in the offer's order of preference.
    pub families: Vec<Codec>,
}

impl Section {
    pub fn sends(&self) -> bool {
        matches!(self.direction.as_str(), "sendrecv" | "sendonly")
    }

    pub fn receives(&self) -> bool {
        matches!(self.direction.as_str(), "sendrecv" | "recvonly")
    }
}

/// The media sections of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub sections: Vec<Section>,
}

impl Summary {
    pub fn of(&self, kind: &str) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    pub fn count(&self, kind: &str) -> usize {
        self.of(kind).count()
    }

    pub fn first(&self, kind: &str) -> Option<&Section> {
        self.of(kind).next()
    }
}

/// Parses the parts of an SDP offer we check. Errors are human sentences for a 400.
pub fn summarize(sdp: &str) -> Result<Summary, String> {
    let mut lines = sdp.lines().map(str::trim).filter(|l| !l.is_empty());
    match lines.next() {
        Some("v=0") => {}
        _ => return Err("an SDP body starts with v=0".into()),
    }
    let mut reader = Reader::default();
    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("not an SDP line: {:.60}", line));
        };
        if key.len() != 1 {
            return Err(format!("not an SDP line: {:.60}", line));
        }
        match key {
            "m" => reader.media(value)?,
            "a" => reader.attribute(value),
            _ => {}
        }
    }
    reader.finish()
}

/// The lines of an offer read so far, per media section in order.
#[derive(Default)]
struct Reader {
    sections: Vec<Section>,
    /// Per section: the payload types of its m= line, in order.
    formats: Vec<Vec<String>>,
    /// Per section: (payload type, codec name) of each a=rtpmap.
    rtpmap: Vec<Vec<(String, String)>>,
    /// Per section: (payload type, parameters) of each a=fmtp.
    fmtp: Vec<Vec<(String, String)>>,
    session_direction: Option<String>,
}

impl Reader {
    /// An `m=` line: a new section.
    fn media(&mut self, value: &str) -> Result<(), String> {
        let mut parts = value.split_whitespace();
        let kind = parts.next().unwrap_or_default().to_string();
        let port = parts
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| format!("bad m= line: {value:.60}"))?;
        let _proto = parts.next().ok_or("an m= line without a protocol")?;
        self.formats.push(parts.map(str::to_string).collect());
        self.rtpmap.push(Vec::new());
        self.fmtp.push(Vec::new());
        self.sections.push(Section {
            kind,
            port,
            direction: String::new(),
            families: Vec::new(),
        });
        Ok(())
    }

    /// An `a=` line: a direction (of the session or the current section), a codec or its
    /// parameters.
    fn attribute(&mut self, value: &str) {
        let (name, arg) = value.split_once(':').unwrap_or((value, ""));
        let in_media = !self.sections.is_empty();
        match name {
            "sendrecv" | "sendonly" | "recvonly" | "inactive" => {
                if let Some(s) = self.sections.last_mut() {
                    s.direction = name.to_string();
                } else {
                    self.session_direction = Some(name.to_string());
                }
            }
            "rtpmap" if in_media => {
                if let Some((pt, codec)) = arg.split_once(' ')
                    && let Some(m) = self.rtpmap.last_mut()
                {
                    m.push((pt.to_string(), codec.to_string()));
                }
            }
            "fmtp" if in_media => {
                if let Some((pt, params)) = arg.split_once(' ')
                    && let Some(m) = self.fmtp.last_mut()
                {
                    m.push((pt.to_string(), params.to_string()));
                }
            }
            _ => {}
        }
    }

    /// Each section's direction (its own, else the session's, else sendrecv) and families.
    fn finish(mut self) -> Result<Summary, String> {
        if self.sections.is_empty() {
            return Err("the offer has no media section".into());
        }
        for (i, section) in self.sections.iter_mut().enumerate() {
            if section.direction.is_empty() {
                section.direction = self
                    .session_direction
                    .clone()
                    .unwrap_or_else(|| "sendrecv".to_string());
            }
            for pt in &self.formats[i] {
                let Some((_, name)) = self.rtpmap[i].iter().find(|(p, _)| p == pt) else {
                    continue;
                };
                let params = self.fmtp[i]
                    .iter()
                    .find(|(p, _)| p == pt)
                    .map(|(_, f)| f.as_str())
                    .unwrap_or("");
                if let Some(family) = family_of(name, params)
                    && !section.families.contains(&family)
                {
                    section.families.push(family);
                }
            }
        }
        Ok(Summary {
            sections: self.sections,
        })
    }
}

/// Which of our families an `a=rtpmap` codec (`VP8/90000`) with its fmtp belongs to.
fn family_of(rtpmap: &str, fmtp: &str) -> Option<Codec> {
    let name = rtpmap.split('/').next().unwrap_or("").to_ascii_lowercase();
    match name.as_str() {
        "vp8" => Some(Codec::Vp8),
        "opus" => Some(Codec::Opus),
        "h264" => {
            let param = |key: &str| {
                fmtp.split(';').find_map(|kv| {
                    let (k, v) = kv.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case(key)
                        .then(|| v.trim().to_string())
                })
            };
            let mode_one = param("packetization-mode").as_deref() == Some("1");
            // Constrained baseline or baseline: profile_idc 0x42 with the constraint flags
            // our engine registers (42e0, 4200, 42c0).
            let profile = param("profile-level-id")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let baseline = ["42e0", "4200", "42c0"]
                .iter()
                .any(|p| profile.starts_with(p));
            (mode_one && baseline).then_some(Codec::H264)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER_LIKE: &str = "v=0\r\n\
o=- 1 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:0\r\n\
a=sendonly\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 127 108\r\n\
a=mid:1\r\n\
a=sendonly\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:127 H264/90000\r\n\
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n\
a=rtpmap:108 H264/90000\r\n\
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f\r\n";

    #[test]
    fn sections_directions_and_families() {
        let s = summarize(BROWSER_LIKE).unwrap();
        assert_eq!(s.count("audio"), 1);
        assert_eq!(s.count("video"), 1);
        let audio = s.first("audio").unwrap();
        assert!(audio.sends() && !audio.receives());
        assert_eq!(audio.families, vec![Codec::Opus]);
        let video = s.first("video").unwrap();
        assert_eq!(video.families, vec![Codec::Vp8, Codec::H264]);
    }

    #[test]
    fn h264_needs_mode_one_and_a_baseline_profile() {
        let sdp = BROWSER_LIKE.replace("96 97 102 127 108", "127 108");
        let s = summarize(&sdp).unwrap();
        assert!(s.first("video").unwrap().families.is_empty());
        assert_eq!(
            family_of("H264/90000", "packetization-mode=1;profile-level-id=42001f"),
            Some(Codec::H264)
        );
        assert_eq!(
            family_of(
                "h264/90000",
                "profile-level-id=42c01f; packetization-mode=1"
            ),
            Some(Codec::H264)
        );
        assert_eq!(family_of("VP9/90000", ""), None);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(summarize("").is_err());
        assert!(summarize("hello").is_err());
        assert!(summarize("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n").is_err());
        assert!(summarize("v=0\r\nm=video x UDP 96\r\n").is_err());
        assert!(summarize("v=0\r\nnot a line\r\n").is_err());
    }

    #[test]
    fn direction_defaults_to_the_session_level_then_sendrecv() {
        let s = summarize("v=0\r\na=recvonly\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n")
            .unwrap();
        assert_eq!(s.first("video").unwrap().direction, "recvonly");
        let s = summarize("v=0\r\nm=video 9 RTP/AVP 96\r\n").unwrap();
        assert!(s.first("video").unwrap().sends());
    }
}
