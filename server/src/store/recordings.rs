//! The recordings area of the store: each show's recording index ([`RecordingStore`]), so any
//! node can answer a replay, and a node restarted mid-show resumes into the same recording.
//! The files themselves are on the recording node's disk (`media/recording`); each segment
//! names that node, so the others ask it for them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::ShowId;

/// One recorded segment: `seg-{msn}.m4s` in the show's folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSegment {
    /// Media sequence number (the file's name); increases across restarts.
    pub msn: u64,
    /// Seconds recorded so far (the whole segment once `complete`).
    pub duration_s: f64,
    /// `EXT-X-PROGRAM-DATE-TIME`, Unix ms of its first frame.
    pub pdt_ms: i64,
    /// After a gap, a restart or a new init.
    pub discontinuity: bool,
    /// Its init segment, `init-{init}.mp4`.
    pub init: u64,
    /// Bytes written and flushed (whole parts only).
    pub bytes: u64,
    /// The packager closed it (else it is being written, or its node died writing it).
    pub complete: bool,
    /// The public base URL of the node that wrote it (its name as a media home), which serves
    /// its file to the other nodes; `None` in an index written before nodes were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl RecordedSegment {
    pub fn file(&self) -> String {
        format!("seg-{}.m4s", self.msn)
    }
}

/// A show's recording index: its segments in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recording {
    pub segments: Vec<RecordedSegment>,
}

impl Recording {
    /// The PDT of the first segment (the replay's time zero).
    pub fn origin_ms(&self) -> Option<i64> {
        self.segments.first().map(|s| s.pdt_ms)
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    pub fn duration_s(&self) -> f64 {
        self.segments.iter().map(|s| s.duration_s).sum()
    }

    /// The replay's length on its timeline (the `at_ms` of chapters and the room's events):
    /// from the origin to the end of the last segment, off-air gaps included, and never less
    /// than the segments' summed durations.
    pub fn timeline_ms(&self) -> u64 {
        let origin = self.origin_ms().unwrap_or(0);
        let end = self
            .segments
            .iter()
            .map(|s| {
                s.pdt_ms
                    .saturating_add((s.duration_s * 1000.0).ceil() as i64)
            })
            .max()
            .unwrap_or(origin);
        let span = end.saturating_sub(origin).max(0) as u64;
        span.max((self.duration_s() * 1000.0).ceil() as u64)
    }
}

#[async_trait]
pub trait RecordingStore: Send + Sync + 'static {
    /// Adds the segment, or replaces the one with its `msn` (a part was appended);
    /// `now_ms` marks the recording as written to then (for retention).
    async fn put_segment(
        &self,
        show: ShowId,
        segment: &RecordedSegment,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// The show's index, segments ordered by `msn`; `None` if nothing was recorded.
    async fn recording(&self, show: ShowId) -> Result<Option<Recording>, StoreError>;

    /// Shows whose recording was last written before `before_ms`.
    async fn recordings_before(&self, before_ms: i64) -> Result<Vec<ShowId>, StoreError>;

    /// Forgets the show's index.
    async fn remove_recording(&self, show: ShowId) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index written before segments named their node (Redis keeps the JSON) still reads:
    /// its node is unknown.
    #[test]
    fn a_segment_of_an_older_index_names_no_node() {
        let old = r#"{"msn":7,"duration_s":2.0,"pdt_ms":1,"discontinuity":false,"init":1,"bytes":5,"complete":true}"#;
        let seg: RecordedSegment = serde_json::from_str(old).expect("an older segment reads");
        assert_eq!(seg.node, None);
        let mut named = seg.clone();
        named.node = Some("http://10.0.0.2:8080".into());
        let json = serde_json::to_string(&named).expect("json");
        assert_eq!(
            serde_json::from_str::<RecordedSegment>(&json).ok(),
            Some(named)
        );
    }
}
