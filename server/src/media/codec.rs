//! The codecs a show can carry, and where a keyframe starts in their RTP payloads.
//!
//! Pure: the forwarder only ever reads the first bytes of a payload (the VP8 payload descriptor
//! and the first byte of the VP8 frame header; the H.264 NAL unit header and, for aggregation
//! and fragmentation units, the header of the unit inside).

/// A codec family as the forwarder sees it. Viewer legs map each onto their own payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Vp8,
    /// H.264 constrained baseline (or baseline), packetization-mode 1.
    H264,
    Opus,
}

impl Codec {
    /// The codec of a negotiated MIME type (`video/VP8`, `video/H264`, `audio/opus`), if ours.
    pub fn from_mime(mime: &str) -> Option<Codec> {
        let m = mime.to_ascii_lowercase();
        match m.as_str() {
            "video/vp8" => Some(Codec::Vp8),
            "video/h264" => Some(Codec::H264),
            "audio/opus" => Some(Codec::Opus),
            _ => None,
        }
    }

    pub fn is_video(self) -> bool {
        !matches!(self, Codec::Opus)
    }

    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Vp8 | Codec::H264 => 90_000,
            Codec::Opus => 48_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Vp8 => "VP8",
            Codec::H264 => "H264",
            Codec::Opus => "opus",
        }
    }

    /// Whether this packet is the first one of a frame a decoder can start from: the start of
    /// a keyframe for video; any packet for audio (every Opus packet decodes on its own).
    pub fn is_sync_point(self, payload: &[u8]) -> bool {
        match self {
            Codec::Vp8 => vp8_keyframe_start(payload),
            Codec::H264 => h264_keyframe_start(payload),
            Codec::Opus => true,
        }
    }
}

/// Whether a VP8 RTP payload (RFC 7741) is the first packet of a keyframe: the payload
/// descriptor says "start of partition 0" (S=1, PID=0), and the VP8 frame header that follows
/// has its inverse keyframe bit P clear.
pub fn vp8_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    if !start || partition != 0 {
        return false;
    }
    let mut at = 1;
    if extended {
        let Some(&x) = payload.get(at) else {
            return false;
        };
        at += 1;
        if x & 0x80 != 0 {
            // I: a picture id of 7 or 15 bits (M bit says which).
            let Some(&pid) = payload.get(at) else {
                return false;
            };
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            // L: TL0PICIDX.
            at += 1;
        }
        if x & 0x30 != 0 {
            // T or K: TID/Y/KEYIDX.
            at += 1;
        }
    }
    match payload.get(at) {
        Some(header) => header & 0x01 == 0,
        None => false,
    }
}

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

fn starts_keyframe(nal_type: u8) -> bool {
    nal_type == NAL_IDR || nal_type == NAL_SPS
}

/// Whether an H.264 RTP payload (RFC 6184, packetization-mode 1) starts a keyframe: a single
/// SPS or IDR NAL unit, a STAP-A that aggregates one, or the first fragment (S=1) of an
/// FU-A carrying one. Encoders send SPS/PPS right before an IDR, so the cut lands on the SPS.
pub fn h264_keyframe_start(payload: &[u8]) -> bool {
    let Some(&header) = payload.first() else {
        return false;
    };
    let nal_type = header & 0x1F;
    match nal_type {
        1..=23 => starts_keyframe(nal_type),
        NAL_STAP_A => {
            let mut at = 1;
            while at + 2 < payload.len() {
                let size = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                at += 2;
                if size == 0 || at >= payload.len() {
                    return false;
                }
                if starts_keyframe(payload[at] & 0x1F) {
                    return true;
                }
                at += size;
            }
            false
        }
        NAL_FU_A => match payload.get(1) {
            Some(fu) => fu & 0x80 != 0 && starts_keyframe(fu & 0x1F),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframes_are_found_through_every_descriptor_shape() {
        // S=1, PID=0, no extension; frame header P=0 (key) / P=1 (delta).
        assert!(vp8_keyframe_start(&[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        assert!(!vp8_keyframe_start(&[0x10, 0x01]));
        // Not the start of partition 0.
        assert!(!vp8_keyframe_start(&[0x00, 0x00]));
        assert!(!vp8_keyframe_start(&[0x11, 0x00]));
        // X with a 15-bit picture id (I, M), then the frame header.
        assert!(vp8_keyframe_start(&[0x90, 0x80, 0x81, 0x23, 0x00]));
        assert!(!vp8_keyframe_start(&[0x90, 0x80, 0x81, 0x23, 0x01]));
        // X with a 7-bit picture id, TL0PICIDX and TID.
        assert!(vp8_keyframe_start(&[0x90, 0xE0, 0x05, 0x07, 0x40, 0x00]));
        assert!(!vp8_keyframe_start(&[0x90, 0xE0, 0x05, 0x07, 0x40, 0x01]));
        // Truncated payloads are never keyframes.
        assert!(!vp8_keyframe_start(&[]));
        assert!(!vp8_keyframe_start(&[0x90, 0x80, 0x81]));
        assert!(!vp8_keyframe_start(&[0x10]));
    }

    #[test]
    fn h264_keyframes_are_found_in_single_aggregated_and_fragmented_units() {
        assert!(h264_keyframe_start(&[0x65, 0x88])); // IDR
        assert!(h264_keyframe_start(&[0x67, 0x42])); // SPS
        assert!(!h264_keyframe_start(&[0x68, 0xce])); // PPS alone
        assert!(!h264_keyframe_start(&[0x41, 0x9a])); // non-IDR slice
        // STAP-A with SPS and PPS.
        assert!(h264_keyframe_start(&[
            0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce
        ]));
        // STAP-A with two non-IDR units.
        assert!(!h264_keyframe_start(&[
            0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x02, 0x41, 0x9b
        ]));
        // FU-A: start of an IDR, middle of an IDR, start of a non-IDR.
        assert!(h264_keyframe_start(&[0x7c, 0x85, 0x88]));
        assert!(!h264_keyframe_start(&[0x7c, 0x05, 0x88]));
        assert!(!h264_keyframe_start(&[0x7c, 0x81, 0x9a]));
        assert!(!h264_keyframe_start(&[]));
        assert!(!h264_keyframe_start(&[0x7c]));
    }

    #[test]
    fn codecs_come_from_mime_types() {
        assert_eq!(Codec::from_mime("video/VP8"), Some(Codec::Vp8));
        assert_eq!(Codec::from_mime("video/h264"), Some(Codec::H264));
        assert_eq!(Codec::from_mime("audio/opus"), Some(Codec::Opus));
        assert_eq!(Codec::from_mime("video/VP9"), None);
        assert!(Codec::Opus.is_sync_point(&[]));
        assert_eq!(Codec::Opus.clock_rate(), 48_000);
    }
}
