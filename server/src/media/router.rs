//! The packet router's fan-out: what a camera's packet is ([`Source`], [`Item`]), who wants
//! it ([`ViewerLink`], [`Watch`]), and the copy into each viewer's bounded queue. It never
//! waits: a full queue drops the packet and marks the gap, so that viewer skips to the next
//! keyframe. Whether a packet is on air is the show's [`super::show::ShowMedia::route`]
//! decision (it holds the program); this is the hot path after it.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::codec::Codec;
use super::forwarder::{Incoming, SourceKey};
use crate::domain::access::Action;
use crate::domain::media_ids::CameraId;

/// What a viewer watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    Program,
    Camera(CameraId),
}

impl Watch {
    /// What the caller must be allowed: the program is for everyone in the show, one camera
    /// only for those who direct it.
    pub fn action(&self) -> Action {
        match self {
            Watch::Program => Action::Watch,
            Watch::Camera(_) => Action::Preview,
        }
    }
}

/// One incoming stream (a camera's video or audio track).
pub struct Source {
    pub key: SourceKey,
    pub codec: Codec,
    pub camera: CameraId,
    pub keyframes: mpsc::Sender<()>,
}

impl Source {
    /// Asks the camera for a keyframe (coalesced and throttled by its keyframe task).
    pub fn want_keyframe(&self) {
        if self.codec.is_video() {
            let _ = self.keyframes.try_send(());
        }
    }
}

/// A packet on its way to one viewer.
#[derive(Clone)]
pub struct Item {
    pub source: Arc<Source>,
    /// It starts a keyframe (video) / any audio packet.
    pub sync: bool,
    /// Packets of this kind were dropped for this viewer just before it.
    pub after_gap: bool,
    /// When it arrived, in the node's monotonic milliseconds.
    pub at_ms: u64,
    pub packet: rtc::rtp::Packet,
}

impl Item {
    /// What a viewer's [`Rewriter`](super::forwarder::Rewriter) reads of it.
    pub fn incoming(&self) -> Incoming {
        Incoming {
            source: self.source.key,
            seq: self.packet.header.sequence_number,
            ts: self.packet.header.timestamp,
            sync_point: self.sync,
            after_gap: self.after_gap,
            now_ms: self.at_ms,
        }
    }
}

/// A viewer as the router feeds it: its queue and, per kind, whether packets were dropped.
pub struct ViewerLink {
    pub key: u64,
    pub watch: Watch,
    pub tx: mpsc::Sender<Item>,
    pub video_gap: bool,
    pub audio_gap: bool,
}

impl ViewerLink {
    pub fn new(key: u64, watch: Watch, tx: mpsc::Sender<Item>) -> ViewerLink {
        ViewerLink {
            key,
            watch,
            tx,
            video_gap: false,
            audio_gap: false,
        }
    }
}

/// Removes what belongs to the camera's leg: each leg negotiates its own header extensions
/// (and ids); none of the camera's (transport-cc, abs-send-time, mid) mean anything
/// downstream.
pub fn strip_extensions(packet: &mut rtc::rtp::Packet) {
    packet.header.extension = false;
    packet.header.extensions.clear();
    packet.header.extension_profile = 0;
    packet.header.extensions_padding = 0;
    packet.header.padding = false;
}

/// What the show decided about one packet.
#[derive(Debug, Clone, Copy)]
pub struct Routing {
    pub video: bool,
    /// It starts a keyframe (video) / any audio packet.
    pub sync: bool,
    /// It is on air.
    pub on_program: bool,
    /// It (re)starts the program's forwarding of its source: program viewers re-anchor.
    pub restart: bool,
    pub now_ms: u64,
}

/// Copies the packet into the queue of every viewer that wants it. Returns whether a
/// viewer's queue was found closed (the caller forgets closed viewers).
pub fn fan_out(
    links: &mut [ViewerLink],
    source: &Arc<Source>,
    packet: &rtc::rtp::Packet,
    routing: Routing,
    drops: &metrics::Counter,
) -> bool {
    let mut closed = false;
    for link in links.iter_mut() {
        let (wanted, restart) = match &link.watch {
            Watch::Program => (routing.on_program, routing.restart),
            Watch::Camera(id) => (*id == source.camera, false),
        };
        if !wanted {
            continue;
        }
        let gap = if routing.video {
            &mut link.video_gap
        } else {
            &mut link.audio_gap
        };
        let item = Item {
            source: source.clone(),
            sync: routing.sync,
            after_gap: *gap || restart,
            at_ms: routing.now_ms,
            packet: packet.clone(),
        };
        match link.tx.try_send(item) {
            Ok(()) => *gap = false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                drops.increment(1);
                if !*gap {
                    *gap = true;
                    // It will wait for a keyframe: ask for one now.
                    source.want_keyframe();
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => closed = true,
        }
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(camera: &str) -> (Arc<Source>, mpsc::Receiver<()>) {
        let (keyframes, rx) = mpsc::channel(1);
        let source = Arc::new(Source {
            key: SourceKey {
                session: 1,
                ssrc: 7,
            },
            codec: Codec::Vp8,
            camera: CameraId::new(camera),
            keyframes,
        });
        (source, rx)
    }

    fn routing(on_program: bool, restart: bool) -> Routing {
        Routing {
            video: true,
            sync: false,
            on_program,
            restart,
            now_ms: 5,
        }
    }

    /// Program viewers get what is on air (re-anchoring on a restart), a camera's previewers
    /// get that camera whatever is on air, and nobody else gets anything.
    #[test]
    fn each_viewer_gets_what_it_watches() {
        let (a, _kf) = source("a");
        let (tx_program, mut program) = mpsc::channel(4);
        let (tx_a, mut preview_a) = mpsc::channel(4);
        let (tx_b, mut preview_b) = mpsc::channel(4);
        let mut links = vec![
            ViewerLink::new(1, Watch::Program, tx_program),
            ViewerLink::new(2, Watch::Camera(CameraId::new("a")), tx_a),
            ViewerLink::new(3, Watch::Camera(CameraId::new("b")), tx_b),
        ];
        let drops = metrics::Counter::noop();
        let packet = rtc::rtp::Packet::default();
        assert!(!fan_out(
            &mut links,
            &a,
            &packet,
            routing(false, false),
            &drops
        ));
        assert!(program.try_recv().is_err());
        let preview = preview_a.try_recv().unwrap();
        assert!(!preview.after_gap && preview.at_ms == 5);
        assert!(!fan_out(
            &mut links,
            &a,
            &packet,
            routing(true, true),
            &drops
        ));
        assert!(
            program.try_recv().unwrap().after_gap,
            "a restart re-anchors"
        );
        assert!(
            !preview_a.try_recv().unwrap().after_gap,
            "previews never restart"
        );
        assert!(preview_b.try_recv().is_err());
    }

    /// A full queue marks a gap and asks for one keyframe; the next packet that fits carries
    /// the mark; a closed queue is reported.
    #[test]
    fn a_full_queue_marks_a_gap_and_a_closed_one_is_reported() {
        let (a, mut keyframes) = source("a");
        let (tx, mut rx) = mpsc::channel(1);
        let mut links = vec![ViewerLink::new(1, Watch::Program, tx)];
        let drops = metrics::Counter::noop();
        let packet = rtc::rtp::Packet::default();
        for _ in 0..3 {
            fan_out(&mut links, &a, &packet, routing(true, false), &drops);
        }
        assert!(links[0].video_gap && !links[0].audio_gap);
        assert!(
            keyframes.try_recv().is_ok(),
            "the first drop asks for a keyframe"
        );
        assert!(
            keyframes.try_recv().is_err(),
            "later drops do not ask again"
        );
        assert!(!rx.try_recv().unwrap().after_gap);
        fan_out(&mut links, &a, &packet, routing(true, false), &drops);
        assert!(rx.try_recv().unwrap().after_gap);
        assert!(!links[0].video_gap);
        drop(rx);
        assert!(fan_out(
            &mut links,
            &a,
            &packet,
            routing(true, false),
            &drops
        ));
    }
}
