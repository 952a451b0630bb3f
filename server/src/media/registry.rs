//! The session registry of this node: the shows with media here (each held by its sessions
//! or by a [`KeepAlive`] while a request works on it), every WHIP/WHEP session (for `DELETE`,
//! ownership checks and cleanup), and the count of viewers against the node's capacity
//! ([`ViewerSlot`]). Bookkeeping only: starting and ending sessions is [`super::Media`]'s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use webrtc::peer_connection::PeerConnection;

use super::show::ShowMedia;
use crate::domain::media_ids::SessionId;
use crate::domain::{SessionOwner, ShowId};

/// WHIP or WHEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Whip,
    Whep,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Whip => "whip",
            SessionKind::Whep => "whep",
        }
    }
}

/// A session as the node tracks it.
pub struct SessionEntry {
    pub show: ShowId,
    pub kind: SessionKind,
    /// Who opened it: with the show's creator, the only one who may end it.
    pub owner: SessionOwner,
    pub key: u64,
    pub pc: Arc<dyn PeerConnection>,
}

#[derive(Default)]
pub struct Registry {
    shows: Mutex<HashMap<ShowId, Arc<ShowMedia>>>,
    sessions: Mutex<HashMap<SessionId, SessionEntry>>,
    viewers: AtomicUsize,
    next_key: AtomicU64,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            next_key: AtomicU64::new(1),
            ..Registry::default()
        }
    }

    /// A number no other session of this node has (the sources' and viewers' key).
    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// The show's media on this node, created by `create` if needed, and kept alive: it is
    /// not retired while the guard lives, so a session being set up cannot land in a retired
    /// show.
    pub fn keep_alive(&self, show: ShowId, create: impl FnOnce() -> Arc<ShowMedia>) -> KeepAlive {
        let mut shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        let media = shows.entry(show).or_insert_with(create).clone();
        media.hold();
        KeepAlive(media)
    }

    /// Forgets the show's media if it has no sessions and nobody is setting one up.
    pub fn retire_if_idle(&self, show: ShowId) {
        let mut shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        if shows.get(&show).is_some_and(|media| media.is_idle()) {
            shows.remove(&show);
        }
    }

    pub fn existing(&self, show: ShowId) -> Option<Arc<ShowMedia>> {
        let shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        shows.get(&show).cloned()
    }

    /// The shows with media on this node.
    pub fn shows(&self) -> Vec<ShowId> {
        let shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        shows.keys().copied().collect()
    }

    pub fn register(&self, session: SessionId, entry: SessionEntry) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.insert(session, entry);
    }

    /// Who owns this session, when it exists and is of this show and kind.
    pub fn owner(
        &self,
        session: SessionId,
        show: ShowId,
        kind: SessionKind,
    ) -> Option<SessionOwner> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(&session)
            .filter(|s| s.show == show && s.kind == kind)
            .map(|s| s.owner)
    }

    /// Takes the session out (the first of several callers ending it gets it).
    pub fn remove(&self, session: SessionId) -> Option<SessionEntry> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.remove(&session)
    }

    pub fn sessions(&self) -> Vec<SessionId> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.keys().copied().collect()
    }

    /// A viewer's place within `max`, taken before any socket is bound; `None` at capacity.
    pub fn take_viewer_slot(&self, max: usize) -> Option<ViewerSlot<'_>> {
        let taken = self.viewers.fetch_add(1, Ordering::AcqRel);
        let slot = ViewerSlot {
            viewers: &self.viewers,
            kept: false,
        };
        (taken < max).then_some(slot)
    }

    /// A viewer session ended: its place is free.
    pub fn viewer_left(&self) {
        self.viewers.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn viewer_count(&self) -> usize {
        self.viewers.load(Ordering::Acquire)
    }
}

/// A [`ShowMedia`] held while a request sets up a session or changes the program.
pub struct KeepAlive(Arc<ShowMedia>);

impl std::ops::Deref for KeepAlive {
    type Target = Arc<ShowMedia>;
    fn deref(&self) -> &Arc<ShowMedia> {
        &self.0
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A viewer's place in the node's capacity: given back when dropped, unless the session it
/// was taken for started ([`ViewerSlot::keep`]; the session's end gives it back then).
pub struct ViewerSlot<'a> {
    viewers: &'a AtomicUsize,
    kept: bool,
}

impl ViewerSlot<'_> {
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for ViewerSlot<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.viewers.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_slots_stop_at_capacity_and_come_back_unless_kept() {
        let registry = Registry::new();
        let first = registry.take_viewer_slot(2).expect("room for one");
        let second = registry.take_viewer_slot(2).expect("room for two");
        assert!(registry.take_viewer_slot(2).is_none(), "full");
        assert_eq!(registry.viewer_count(), 2, "a refused slot is given back");
        drop(second);
        assert_eq!(
            registry.viewer_count(),
            1,
            "a failed start gives its slot back"
        );
        first.keep();
        assert_eq!(
            registry.viewer_count(),
            1,
            "a started session keeps its slot"
        );
        registry.viewer_left();
        assert_eq!(registry.viewer_count(), 0);
    }

    #[test]
    fn session_keys_are_never_reused() {
        let registry = Registry::new();
        let (a, b) = (registry.next_key(), registry.next_key());
        assert!(a != b && a >= 1);
    }
}
