//! What is on air: a pure state machine over camera ids, fed with events and the time.
//!
//! Video has one camera on air. A switch does not cut at once: the new camera becomes
//! *pending*, the caller asks it for a keyframe, and the old camera keeps being forwarded until
//! the pending camera's first keyframe packet arrives; the cut happens on that packet. When
//! the on-air camera leaves, the program falls back to another camera with video (it becomes
//! pending, so the cut again lands on a keyframe), or to nothing ("we'll be right back").
//!
//! Audio is independent of the video cut: it follows one source, the camera the creator fixed,
//! or else the first camera (in the order they joined) that has audio.
//!
//! Every change of the on-air choice is reported as [`Effect::Announce`], once.

/// A camera, as the program knows it: its id and order of arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cam {
    pub id: String,
    pub has_video: bool,
    pub has_audio: bool,
}

/// What the caller must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Tell the room which camera is on air now (`None`: nothing is).
    Announce(Option<String>),
    /// Ask this camera for a keyframe (throttled by the caller).
    RequestKeyframe(String),
    /// A cut happened on a keyframe, this long after the switch was asked for.
    Cut { camera: String, latency_ms: u64 },
}

#[derive(Debug, Clone, Default)]
pub struct Program {
    /// The camera whose video is forwarded.
    on_air: Option<String>,
    /// The camera the program switches to at its next keyframe, and when that was asked.
    pending: Option<(String, u64)>,
    /// The creator chose "off air": joining cameras do not go on air by themselves.
    hold: bool,
    /// The audio source the creator fixed, if any.
    audio_fixed: Option<String>,
    /// The audio source in effect.
    audio: Option<String>,
}

impl Program {
    /// The camera on air as announced: the pending one if a switch is under way.
    pub fn chosen(&self) -> Option<&str> {
        match &self.pending {
            Some((id, _)) => Some(id),
            None => self.on_air.as_deref(),
        }
    }

    /// The camera whose video packets are forwarded right now.
    pub fn on_air(&self) -> Option<&str> {
        self.on_air.as_deref()
    }

    pub fn pending(&self) -> Option<&str> {
        self.pending.as_ref().map(|(id, _)| id.as_str())
    }

    pub fn audio(&self) -> Option<&str> {
        self.audio.as_deref()
    }

    pub fn audio_fixed(&self) -> Option<&str> {
        self.audio_fixed.as_deref()
    }

    /// The creator puts `camera` on air, or nothing (`None`, "be right back").
    /// `cameras` are the show's cameras in the order they joined.
    pub fn select(&mut self, camera: Option<&str>, now_ms: u64) -> Vec<Effect> {
        let before = self.chosen().map(str::to_string);
        match camera {
            None => {
                self.hold = true;
                self.on_air = None;
                self.pending = None;
            }
            Some(id) => {
                self.hold = false;
                if self.on_air.as_deref() == Some(id) {
                    self.pending = None;
                } else if self.pending() != Some(id) {
                    self.pending = Some((id.to_string(), now_ms));
                }
            }
        }
        self.effects(before)
    }

    /// Fixes the audio source (`None`: back to the first camera with audio).
    pub fn fix_audio(&mut self, camera: Option<&str>, cameras: &[Cam]) {
        self.audio_fixed = camera.map(str::to_string);
        self.recompute_audio(cameras);
    }

    /// A camera joined or its tracks changed.
    pub fn camera_updated(&mut self, cameras: &[Cam], now_ms: u64) -> Vec<Effect> {
        let before = self.chosen().map(str::to_string);
        if self.chosen().is_none()
            && !self.hold
            && let Some(first) = cameras.iter().find(|c| c.has_video)
        {
            self.pending = Some((first.id.clone(), now_ms));
        }
        self.recompute_audio(cameras);
        self.effects(before)
    }

    /// A camera left; `cameras` are those that remain.
    pub fn camera_left(&mut self, id: &str, cameras: &[Cam], now_ms: u64) -> Vec<Effect> {
        if self.audio_fixed.as_deref() == Some(id) {
            self.audio_fixed = None;
        }
        self.camera_lost(id, cameras, now_ms)
    }

    /// A camera cannot be shown for now (its connection dropped; it may come back, and then
    /// [`Program::camera_updated`] sees it again): if it was on air, the program falls back.
    /// `cameras` are the usable ones.
    pub fn camera_lost(&mut self, id: &str, cameras: &[Cam], now_ms: u64) -> Vec<Effect> {
        let before = self.chosen().map(str::to_string);
        let was_on_air = self.on_air.as_deref() == Some(id);
        let was_pending = self.pending() == Some(id);
        if was_on_air {
            self.on_air = None;
        }
        if was_pending {
            self.pending = None;
        }
        if (was_on_air || was_pending) && self.chosen().is_none() {
            // Fall back to the first remaining camera with video, or to nothing. The creator's
            // "off air" is not involved: this is the show going on without the lost camera.
            if let Some(next) = cameras.iter().find(|c| c.has_video && c.id != id) {
                self.pending = Some((next.id.clone(), now_ms));
            }
        }
        self.recompute_audio(cameras);
        self.effects(before)
    }

    /// A video packet from `camera` arrived: whether it goes to the program. `sync_point` is
    /// whether it starts a keyframe. A packet of the pending camera that starts a keyframe is
    /// the cut.
    pub fn on_video(
        &mut self,
        camera: &str,
        sync_point: bool,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> bool {
        if let Some((pending, since)) = &self.pending
            && pending == camera
        {
            if sync_point {
                effects.push(Effect::Cut {
                    camera: camera.to_string(),
                    latency_ms: now_ms.saturating_sub(*since),
                });
                self.on_air = Some(camera.to_string());
                self.pending = None;
                return true;
            }
            effects.push(Effect::RequestKeyframe(camera.to_string()));
            return false;
        }
        self.on_air.as_deref() == Some(camera)
    }

    /// Whether an audio packet from `camera` goes to the program.
    pub fn on_audio(&self, camera: &str) -> bool {
        self.audio.as_deref() == Some(camera)
    }

    fn recompute_audio(&mut self, cameras: &[Cam]) {
        let fixed = self
            .audio_fixed
            .as_deref()
            .filter(|id| cameras.iter().any(|c| c.id == *id && c.has_audio));
        let keep = self
            .audio
            .as_deref()
            .filter(|id| cameras.iter().any(|c| c.id == *id && c.has_audio));
        self.audio = fixed
            .or(keep)
            .or_else(|| cameras.iter().find(|c| c.has_audio).map(|c| c.id.as_str()))
            .map(str::to_string);
    }

    fn effects(&self, before: Option<String>) -> Vec<Effect> {
        let mut out = Vec::new();
        let now = self.chosen().map(str::to_string);
        if now != before {
            out.push(Effect::Announce(now.clone()));
        }
        if let Some(p) = self.pending() {
            out.push(Effect::RequestKeyframe(p.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(id: &str, video: bool, audio: bool) -> Cam {
        Cam {
            id: id.into(),
            has_video: video,
            has_audio: audio,
        }
    }

    fn announce(id: Option<&str>) -> Effect {
        Effect::Announce(id.map(str::to_string))
    }

    #[test]
    fn the_first_camera_goes_on_air_at_its_first_keyframe() {
        let mut p = Program::default();
        let cams = [cam("a", true, true)];
        let fx = p.camera_updated(&cams, 0);
        assert_eq!(
            fx,
            vec![announce(Some("a")), Effect::RequestKeyframe("a".into())]
        );
        let mut fx = Vec::new();
        assert!(!p.on_video("a", false, 10, &mut fx));
        assert_eq!(fx, vec![Effect::RequestKeyframe("a".into())]);
        fx.clear();
        assert!(p.on_video("a", true, 20, &mut fx));
        assert_eq!(
            fx,
            vec![Effect::Cut {
                camera: "a".into(),
                latency_ms: 20
            }]
        );
        assert!(p.on_video("a", false, 30, &mut fx));
        assert_eq!(p.audio(), Some("a"));
    }

    #[test]
    fn a_switch_keeps_the_old_camera_until_the_new_keyframe() {
        let mut p = Program::default();
        let cams = [cam("a", true, true), cam("b", true, true)];
        p.camera_updated(&cams, 0);
        let mut fx = Vec::new();
        assert!(p.on_video("a", true, 1, &mut fx));
        let fx = p.select(Some("b"), 100);
        assert_eq!(
            fx,
            vec![announce(Some("b")), Effect::RequestKeyframe("b".into())]
        );
        let mut fx = Vec::new();
        assert!(p.on_video("a", false, 110, &mut fx), "old camera still on");
        assert!(!p.on_video("b", false, 120, &mut fx), "new camera waits");
        assert!(p.on_video("b", true, 150, &mut fx), "cut on the keyframe");
        assert!(fx.contains(&Effect::Cut {
            camera: "b".into(),
            latency_ms: 50
        }));
        assert!(!p.on_video("a", true, 160, &mut fx), "old camera off");
        // Audio did not move with the video.
        assert_eq!(p.audio(), Some("a"));
        assert!(p.on_audio("a") && !p.on_audio("b"));
        // Selecting the camera already on air changes nothing.
        assert!(p.select(Some("b"), 200).is_empty());
    }

    #[test]
    fn switching_back_before_the_cut_cancels_it() {
        let mut p = Program::default();
        let cams = [cam("a", true, false), cam("b", true, false)];
        p.camera_updated(&cams, 0);
        p.on_video("a", true, 1, &mut Vec::new());
        p.select(Some("b"), 10);
        assert_eq!(p.select(Some("a"), 20), vec![announce(Some("a"))]);
        assert!(!p.on_video("b", true, 30, &mut Vec::new()));
        assert_eq!(p.on_air(), Some("a"));
    }

    #[test]
    fn losing_the_on_air_camera_falls_back_then_to_nothing() {
        let mut p = Program::default();
        let cams = [cam("a", true, true), cam("b", true, true)];
        p.camera_updated(&cams, 0);
        p.on_video("a", true, 1, &mut Vec::new());
        let fx = p.camera_left("a", &cams[1..], 50);
        assert_eq!(
            fx,
            vec![announce(Some("b")), Effect::RequestKeyframe("b".into())]
        );
        assert_eq!(p.on_air(), None);
        assert_eq!(p.audio(), Some("b"));
        assert!(p.on_video("b", true, 60, &mut Vec::new()));
        let fx = p.camera_left("b", &[], 70);
        assert_eq!(fx, vec![announce(None)]);
        assert_eq!(p.audio(), None);
        // A camera that joins an empty show goes on air by itself.
        let fx = p.camera_updated(&[cam("c", true, false)], 80);
        assert_eq!(fx[0], announce(Some("c")));
    }

    #[test]
    fn a_dropped_connection_falls_back_and_the_camera_can_come_back() {
        let mut p = Program::default();
        let both = [cam("a", true, true), cam("b", true, true)];
        p.camera_updated(&both, 0);
        p.on_video("a", true, 1, &mut Vec::new());
        p.fix_audio(Some("a"), &both);
        let fx = p.camera_lost("a", &both[1..], 10);
        assert_eq!(fx[0], announce(Some("b")));
        assert_eq!(p.audio(), Some("b"));
        assert_eq!(
            p.audio_fixed(),
            Some("a"),
            "the creator's choice survives a blip"
        );
        assert!(p.on_video("b", true, 15, &mut Vec::new()));
        // A is back: not on air by itself (B is), but its audio was the creator's choice.
        assert!(p.camera_updated(&both, 20).is_empty());
        assert_eq!(p.audio(), Some("a"));
    }

    #[test]
    fn off_air_holds_until_the_creator_picks_a_camera() {
        let mut p = Program::default();
        let cams = [cam("a", true, true)];
        p.camera_updated(&cams, 0);
        assert_eq!(p.select(None, 5), vec![announce(None)]);
        assert!(!p.on_video("a", true, 6, &mut Vec::new()));
        let more = [cam("a", true, true), cam("b", true, true)];
        assert!(p.camera_updated(&more, 7).is_empty());
        assert_eq!(p.select(Some("a"), 8)[0], announce(Some("a")));
    }

    #[test]
    fn audio_follows_the_fixed_source_or_the_first_camera_with_audio() {
        let mut p = Program::default();
        let cams = [
            cam("a", true, false),
            cam("b", true, true),
            cam("c", false, true),
        ];
        p.camera_updated(&cams, 0);
        assert_eq!(p.audio(), Some("b"));
        p.fix_audio(Some("c"), &cams);
        assert_eq!(p.audio(), Some("c"));
        // A fixed source without audio is ignored.
        p.fix_audio(Some("a"), &cams);
        assert_eq!(p.audio(), Some("c"), "keeps the source in effect");
        p.fix_audio(None, &cams);
        assert_eq!(p.audio(), Some("c"));
        p.camera_left("c", &cams[..2], 10);
        assert_eq!(p.audio(), Some("b"));
    }
}
