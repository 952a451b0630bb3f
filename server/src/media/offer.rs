//! The checks of a WHIP or WHEP offer before any connection is built, once for both: it
//! parses, has at most one video and one audio section, each sending (a camera's) or
//! receiving (a player's), and offers codecs the show can forward. The words of each refusal
//! are part of the API (400 `invalid_sdp`/`invalid_offer`, 409 `codec_mismatch`).

use webrtc::peer_connection::RTCSessionDescription;

use super::MediaError;
use super::codec::Codec;
use super::sdp;

/// Who made the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A camera (WHIP): its sections send.
    Camera,
    /// A player (WHEP): its sections receive.
    Player,
}

/// An offer that passed the checks that do not depend on the show.
pub struct Offer {
    pub description: RTCSessionDescription,
    pub has_video: bool,
    pub has_audio: bool,
    /// Our codec families offered by the video (audio) section, if there is one.
    video: Option<Vec<Codec>>,
    audio: Option<Vec<Codec>>,
}

const NO_VIDEO_CODEC: &str =
    "the video section offers neither VP8 nor H.264 (constrained baseline, packetization-mode 1)";

impl Offer {
    /// Parses `text` and checks its sections for `side`.
    pub fn check(text: &str, side: Side) -> Result<Offer, MediaError> {
        let mut summary = sdp::summarize(text).map_err(MediaError::BadSdp)?;
        let description = RTCSessionDescription::offer(text.to_string())
            .map_err(|e| MediaError::BadSdp(format!("the offer does not parse: {e}")))?;
        let videos = summary.count("video");
        let audios = summary.count("audio");
        check_counts(side, videos, audios)?;
        for s in summary
            .sections
            .iter()
            .filter(|s| s.kind == "video" || s.kind == "audio")
        {
            check_direction(side, s)?;
        }
        let mut first = |kind: &str| {
            let at = summary.sections.iter().position(|s| s.kind == kind)?;
            Some(std::mem::take(&mut summary.sections[at].families))
        };
        let (video, audio) = (first("video"), first("audio"));
        Ok(Offer {
            description,
            has_video: videos == 1,
            has_audio: audios == 1,
            video,
            audio,
        })
    }

    /// A camera's video codec: the show's (which it must offer), or, for the show's first
    /// camera, H.264 when it offers it and `prefer_h264` (LL-HLS is on: HLS needs H.264),
    /// else the first it offers. `None` without video.
    pub fn camera_codec(
        &self,
        show: Option<Codec>,
        prefer_h264: bool,
    ) -> Result<Option<Codec>, MediaError> {
        let family = match &self.video {
            None => None,
            Some(offered) => Some(match show {
                Some(c) if offered.contains(&c) => c,
                Some(c) => {
                    return Err(MediaError::CodecMismatch(format!(
                        "this show's cameras send {}; this camera offers {}. Configure it for {}",
                        c.name(),
                        describe(offered),
                        c.name()
                    )));
                }
                None if prefer_h264 && offered.contains(&Codec::H264) => Codec::H264,
                None => *offered
                    .first()
                    .ok_or_else(|| MediaError::CodecMismatch(NO_VIDEO_CODEC.into()))?,
            }),
        };
        self.audio_is_opus()?;
        Ok(family)
    }

    /// A player's video codecs: the show's (which it must offer), or, before any camera,
    /// every one it offers. Empty without video.
    pub fn player_codecs(&self, show: Option<Codec>) -> Result<Vec<Codec>, MediaError> {
        let families = match &self.video {
            None => Vec::new(),
            Some(offered) => match show {
                Some(c) if !offered.contains(&c) => {
                    return Err(MediaError::CodecMismatch(format!(
                        "this show's video is {}; this player offers {}",
                        c.name(),
                        describe(offered)
                    )));
                }
                Some(c) => vec![c],
                None if offered.is_empty() => {
                    return Err(MediaError::CodecMismatch(NO_VIDEO_CODEC.into()));
                }
                None => offered.clone(),
            },
        };
        self.audio_is_opus()?;
        Ok(families)
    }

    fn audio_is_opus(&self) -> Result<(), MediaError> {
        match &self.audio {
            Some(families) if !families.contains(&Codec::Opus) => Err(MediaError::CodecMismatch(
                "the audio section does not offer Opus".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn check_counts(side: Side, videos: usize, audios: usize) -> Result<(), MediaError> {
    match side {
        Side::Camera if videos > 1 || audios > 1 => Err(MediaError::Tracks(format!(
            "a camera sends at most one video and one audio track; this offer has {videos} video and {audios} audio sections"
        ))),
        Side::Camera if videos + audios == 0 => Err(MediaError::Tracks(
            "the offer has no audio or video section".into(),
        )),
        Side::Player if videos > 1 || audios > 1 || videos + audios == 0 => {
            Err(MediaError::Tracks(format!(
                "a WHEP offer receives one video and one audio track; this one has {videos} video and {audios} audio sections"
            )))
        }
        _ => Ok(()),
    }
}

fn check_direction(side: Side, section: &sdp::Section) -> Result<(), MediaError> {
    let (fits, wanted) = match side {
        Side::Camera => (section.sends(), "a WHIP offer sends (sendonly)"),
        Side::Player => (section.receives(), "a WHEP offer receives (recvonly)"),
    };
    if fits {
        return Ok(());
    }
    Err(MediaError::Tracks(format!(
        "the {} section is {}; {wanted}",
        section.kind, section.direction
    )))
}

fn describe(families: &[Codec]) -> String {
    if families.is_empty() {
        "no codec we can forward".into()
    } else {
        families
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offer with an Opus audio section and a video section offering `video` (rtpmap
    /// lines), both in `direction`.
    fn offer(direction: &str, video: &str) -> String {
        format!(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na={direction}\r\n\
             a=rtpmap:111 opus/48000/2\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na={direction}\r\n{video}"
        )
    }

    const VP8: &str = "a=rtpmap:96 VP8/90000\r\n";
    const H264: &str = "a=rtpmap:102 H264/90000\r\n\
        a=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n";

    fn refusal(result: Result<impl Sized, MediaError>) -> String {
        match result {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_camera_sends_and_a_player_receives() {
        let sending = offer("sendonly", VP8);
        let camera = Offer::check(&sending, Side::Camera).unwrap();
        assert!(camera.has_video && camera.has_audio);
        assert_eq!(
            refusal(Offer::check(&sending, Side::Player)),
            "the audio section is sendonly; a WHEP offer receives (recvonly)"
        );
        let receiving = offer("recvonly", VP8);
        assert!(Offer::check(&receiving, Side::Player).is_ok());
        assert_eq!(
            refusal(Offer::check(&receiving, Side::Camera)),
            "the audio section is recvonly; a WHIP offer sends (sendonly)"
        );
        assert!(Offer::check(&offer("sendrecv", VP8), Side::Camera).is_ok());
        assert!(Offer::check(&offer("sendrecv", VP8), Side::Player).is_ok());
    }

    #[test]
    fn each_side_refuses_extra_sections_in_its_own_words() {
        let two_videos = format!(
            "{}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendrecv\r\n{VP8}",
            offer("sendrecv", VP8)
        );
        assert_eq!(
            refusal(Offer::check(&two_videos, Side::Camera)),
            "a camera sends at most one video and one audio track; this offer has 2 video and 1 audio sections"
        );
        assert_eq!(
            refusal(Offer::check(&two_videos, Side::Player)),
            "a WHEP offer receives one video and one audio track; this one has 2 video and 1 audio sections"
        );
        let data_only = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n";
        assert_eq!(
            refusal(Offer::check(data_only, Side::Camera)),
            "the offer has no audio or video section"
        );
        assert!(matches!(
            Offer::check(data_only, Side::Player),
            Err(MediaError::Tracks(_))
        ));
        assert!(matches!(
            Offer::check("hello", Side::Camera),
            Err(MediaError::BadSdp(_))
        ));
    }

    #[test]
    fn the_first_camera_picks_the_show_codec_and_later_ones_must_offer_it() {
        let both = Offer::check(&offer("sendonly", &format!("{VP8}{H264}")), Side::Camera).unwrap();
        assert_eq!(both.camera_codec(None, false).unwrap(), Some(Codec::Vp8));
        // With LL-HLS on, H.264 wins whatever the offer's order.
        assert_eq!(both.camera_codec(None, true).unwrap(), Some(Codec::H264));
        let vp8_only = Offer::check(&offer("sendonly", VP8), Side::Camera).unwrap();
        assert_eq!(vp8_only.camera_codec(None, true).unwrap(), Some(Codec::Vp8));
        assert_eq!(
            both.camera_codec(Some(Codec::H264), false).unwrap(),
            Some(Codec::H264)
        );
        let vp8 = Offer::check(&offer("sendonly", VP8), Side::Camera).unwrap();
        assert_eq!(
            refusal(vp8.camera_codec(Some(Codec::H264), false)),
            "this show's cameras send H264; this camera offers VP8. Configure it for H264"
        );
        let neither = Offer::check(&offer("sendonly", ""), Side::Camera).unwrap();
        assert_eq!(refusal(neither.camera_codec(None, false)), NO_VIDEO_CODEC);
    }

    #[test]
    fn a_player_gets_the_show_codec_or_everything_it_offers_before_any_camera() {
        // The offer's order of preference is its m= line's.
        let h264_first = offer("recvonly", &format!("{VP8}{H264}")).replace("96 102", "102 96");
        let both = Offer::check(&h264_first, Side::Player).unwrap();
        assert_eq!(
            both.player_codecs(None).unwrap(),
            vec![Codec::H264, Codec::Vp8]
        );
        assert_eq!(
            both.player_codecs(Some(Codec::Vp8)).unwrap(),
            vec![Codec::Vp8]
        );
        let vp8 = Offer::check(&offer("recvonly", VP8), Side::Player).unwrap();
        assert_eq!(
            refusal(vp8.player_codecs(Some(Codec::H264))),
            "this show's video is H264; this player offers VP8"
        );
        let neither = Offer::check(&offer("recvonly", ""), Side::Player).unwrap();
        assert_eq!(refusal(neither.player_codecs(None)), NO_VIDEO_CODEC);
    }

    #[test]
    fn audio_must_offer_opus_on_both_sides() {
        let pcmu = offer("sendonly", VP8).replace("opus/48000/2", "PCMU/8000");
        let camera = Offer::check(&pcmu, Side::Camera).unwrap();
        assert_eq!(
            refusal(camera.camera_codec(None, false)),
            "the audio section does not offer Opus"
        );
        let player = Offer::check(&pcmu.replace("sendonly", "recvonly"), Side::Player).unwrap();
        assert_eq!(
            refusal(player.player_codecs(None)),
            "the audio section does not offer Opus"
        );
    }
}
