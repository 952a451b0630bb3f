//! The replay's files (docs/replay.md): each is on the disk of the node that recorded it, which
//! the recording index names per segment. A file not on this node's disk is asked of that node
//! (a forwarded request, never forwarded again) and answered as if it were here; that node
//! down is `RecordingNodeUnreachable`, logged and counted in
//! `livesale_replay_hops_total{outcome}`.

use std::time::Duration;

use super::recording::{self, RecordedFile};
use super::{Media, MediaError, Via};
use crate::domain::Show;
use crate::store::recordings::Recording;

/// How long a replay file asked of its node may take (segments are ~100 KB).
const FILE_HOP: Duration = Duration::from_secs(5);
/// How long `recording.mp4` asked of its node may take (joined there, then sent whole).
const MP4_HOP: Duration = Duration::from_secs(120);

fn hop_metric(outcome: &'static str) {
    metrics::counter!("livesale_replay_hops_total", "outcome" => outcome).increment(1);
}

impl Media {
    /// A file the replay playlist names (`init-{V}.mp4`, `seg-{MSN}.m4s`): from this node's
    /// recordings dir, else from the node that recorded it (unless `via` is another node);
    /// any other name is `ReplayFileNotFound`.
    pub async fn replay_file(
        &self,
        show: &Show,
        name: &str,
        via: Via,
    ) -> Result<bytes::Bytes, MediaError> {
        let file = RecordedFile::parse(name).ok_or(MediaError::ReplayFileNotFound)?;
        let (recorder, rec) = self.ended_recording(show).await?;
        let listed = rec.segments.iter().any(|s| match file {
            RecordedFile::Init(v) => s.init == v,
            RecordedFile::Segment(m) => s.msn == m && s.bytes > 0,
        });
        if !listed {
            return Err(MediaError::ReplayFileNotFound);
        }
        let path = recorder.show_dir(show.id).join(file.name());
        let Ok(mut bytes) = tokio::fs::read(&path).await else {
            let node = self.recorded_by(&rec, file, via)?;
            let path = format!("/api/shows/{}/replay/{}", show.id, file.name());
            return self.hop(&node, &path, None, FILE_HOP).await;
        };
        if let RecordedFile::Segment(m) = file
            && let Some(seg) = rec.segments.iter().find(|s| s.msn == m)
        {
            bytes.truncate(seg.bytes as usize);
        }
        Ok(bytes::Bytes::from(bytes))
    }

    /// The whole recording as one MP4 (joined on first request, then kept beside it), by the
    /// node that recorded it: asked of it with the caller's `authorization` (which it checks
    /// again) if the recording is not on this node's disk, unless `via` is another node. Files
    /// of it other nodes wrote are copied here before the join.
    pub async fn recording_mp4(
        &self,
        show: &Show,
        via: Via,
        authorization: Option<&str>,
    ) -> Result<bytes::Bytes, MediaError> {
        let (recorder, rec) = self.ended_recording(show).await?;
        let dir = recorder.show_dir(show.id);
        let out = dir.join(recording::MP4_NAME);
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            let first = rec.segments.first().map(|s| RecordedFile::Segment(s.msn));
            let node = first
                .ok_or(MediaError::ReplayFileNotFound)
                .and_then(|f| self.recorded_by(&rec, f, via))?;
            let path = format!("/api/shows/{}/recording.mp4", show.id);
            return self.hop(&node, &path, authorization, MP4_HOP).await;
        }
        if !tokio::fs::try_exists(&out).await.unwrap_or(false) {
            self.fetch_missing(show, &rec, &dir).await?;
            let (d, o) = (dir.clone(), out.clone());
            tokio::task::spawn_blocking(move || recording::mp4::join(&d, &rec, &o))
                .await
                .map_err(MediaError::internal)?
                .map_err(MediaError::internal)?;
        }
        let bytes = tokio::fs::read(&out).await.map_err(MediaError::internal)?;
        Ok(bytes::Bytes::from(bytes))
    }

    /// Copies into `dir` the files of the recording other nodes wrote (its home moved during
    /// the show), so it can be joined here. Each is asked of its node as a file, which that
    /// node never forwards again.
    async fn fetch_missing(
        &self,
        show: &Show,
        rec: &Recording,
        dir: &std::path::Path,
    ) -> Result<(), MediaError> {
        let mut files: Vec<RecordedFile> = Vec::new();
        for s in rec.segments.iter().filter(|s| s.bytes > 0) {
            if !files.contains(&RecordedFile::Init(s.init)) {
                files.push(RecordedFile::Init(s.init));
            }
            files.push(RecordedFile::Segment(s.msn));
        }
        for file in files {
            let path = dir.join(file.name());
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                continue;
            }
            let Ok(node) = self.recorded_by(rec, file, Via::Client) else {
                continue; // nobody else has it: the join says so
            };
            let url = format!("/api/shows/{}/replay/{}", show.id, file.name());
            let bytes = self.hop(&node, &url, None, FILE_HOP).await?;
            let part = path.with_extension("fetching");
            tokio::fs::write(&part, &bytes)
                .await
                .map_err(MediaError::internal)?;
            tokio::fs::rename(&part, &path)
                .await
                .map_err(MediaError::internal)?;
        }
        Ok(())
    }

    /// The other node that recorded `file` (an init: the node of a segment that uses it), if
    /// the index names one and the request came from a client; else `ReplayFileNotFound`.
    fn recorded_by(
        &self,
        rec: &Recording,
        file: RecordedFile,
        via: Via,
    ) -> Result<String, MediaError> {
        if via == Via::Node {
            return Err(MediaError::ReplayFileNotFound);
        }
        rec.segments
            .iter()
            .filter(|s| match file {
                RecordedFile::Init(v) => s.init == v,
                RecordedFile::Segment(m) => s.msn == m,
            })
            .find_map(|s| self.homes.other(s.node.as_deref()))
            .map(str::to_owned)
            .ok_or(MediaError::ReplayFileNotFound)
    }

    /// Asks `node` for the file at `path`.
    async fn hop(
        &self,
        node: &str,
        path: &str,
        authorization: Option<&str>,
        timeout: Duration,
    ) -> Result<bytes::Bytes, MediaError> {
        match self
            .homes
            .ask_recorded(node, path, authorization, timeout)
            .await
        {
            Ok(Some(bytes)) => {
                hop_metric("ok");
                Ok(bytes)
            }
            Ok(None) => {
                hop_metric("missing");
                Err(MediaError::ReplayFileNotFound)
            }
            Err(why) => {
                hop_metric("unreachable");
                tracing::warn!(node, path, error = %why, "the node that recorded this file did not give it");
                Err(MediaError::RecordingNodeUnreachable)
            }
        }
    }
}
