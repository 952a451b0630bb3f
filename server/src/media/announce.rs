//! The announcer of one show's program changes (one task per show): each `program.changed`
//! is published in the order the program decided, and a switch to a camera when its picture
//! actually cuts (its keyframe arrived), so the frame's `pts` is the cut's time and viewers
//! behind live see the news with the picture. A cut also makes a chapter titled with the
//! camera's label.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::domain::Show;
use crate::domain::protocol::Broadcast;
use crate::hub::Hub;

/// A switch whose camera sends no keyframe within this is announced anyway.
const CUT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// What the announcing task hears from the program, in the order it was decided.
#[derive(Debug)]
pub enum Announcement {
    /// Announce this now: nothing on air, or a camera the picture already shows.
    Now(Option<String>),
    /// The program switches to this camera at its next keyframe: announce it at the cut
    /// (or after [`CUT_WAIT`]), so viewers behind live see the news with the picture.
    AtCut(String),
    /// The picture cut to this camera.
    Cut(String),
    /// The label of a camera about to be announced (sent before its `Now` or `AtCut`): the
    /// title of the cut's chapter.
    Label(String, String),
}

/// Publishes program changes in the order they were decided (one task per show); a switch is
/// published when its cut happens, so the frame's `pts` is the cut's time.
pub async fn announce_programs(
    hub: Arc<Hub>,
    show: Show,
    mut changes: mpsc::UnboundedReceiver<Announcement>,
) {
    let mut waiting: Option<(String, tokio::time::Instant)> = None;
    let mut labels: HashMap<String, String> = HashMap::new();
    loop {
        let deadline = waiting.as_ref().map(|(_, at)| *at);
        let next = match deadline {
            Some(at) => tokio::select! {
                next = changes.recv() => next,
                _ = tokio::time::sleep_until(at) => {
                    let camera = waiting.take().map(|(camera, _)| camera);
                    announce_program(&hub, &show, camera, &labels).await;
                    continue;
                }
            },
            None => changes.recv().await,
        };
        match next {
            None => break,
            Some(Announcement::Label(camera, label)) => {
                if labels.len() >= 256 {
                    labels.clear();
                }
                labels.insert(camera, label);
            }
            Some(Announcement::Now(camera)) => {
                waiting = None;
                announce_program(&hub, &show, camera, &labels).await;
            }
            Some(Announcement::AtCut(camera)) => {
                waiting = Some((camera, tokio::time::Instant::now() + CUT_WAIT));
            }
            Some(Announcement::Cut(camera)) => {
                if waiting.as_ref().is_some_and(|(c, _)| *c == camera) {
                    waiting = None;
                    announce_program(&hub, &show, Some(camera), &labels).await;
                }
            }
        }
    }
}

/// Publishes the program on air; a camera (not "off air") makes a cut chapter titled with its
/// label, at the frame's `pts`.
async fn announce_program(
    hub: &Hub,
    show: &Show,
    camera: Option<String>,
    labels: &HashMap<String, String>,
) {
    let chapter = camera.as_ref().map(|c| {
        crate::domain::chapter::Draft::cut(labels.get(c).map_or(c.as_str(), String::as_str))
    });
    let event = Broadcast::ProgramChanged { camera };
    let published = match chapter {
        Some(chapter) => hub.publish_chapter(show, &event, chapter).await,
        None => hub.publish(show, &event).await,
    };
    if let Err(e) = published {
        tracing::warn!(show = %show.id, error = %e, "program.changed not published");
    }
}
