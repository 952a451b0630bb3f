//! Moderation rules: the chat policy of a show (slow mode, pause, blocked terms, links), the
//! verdict on each message, timeouts and bans, and the audit entries every action leaves.
//! Pure: the store keeps the state, the moderation service (`services::moderation`) applies
//! the commands and verdicts. Text is compared by its look-alike skeleton (`names`).

use super::names::skeleton;
use super::{Code, DomainError, Role, Timestamp};

pub const MIN_TIMEOUT_S: u64 = 10;
pub const MAX_TIMEOUT_S: u64 = 24 * 3600;
pub const MAX_SLOW_MODE_S: u64 = 3600;
pub const MAX_TERMS: usize = 500;
pub const MAX_TERM_CHARS: usize = 64;
pub const MAX_REASON_CHARS: usize = 200;
/// Audit entries one read returns, at most and by default.
pub const MAX_AUDIT_READ: u32 = 1000;
pub const DEFAULT_AUDIT_READ: u32 = 200;

/// What happens to a viewer's message that contains a link.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LinkPolicy {
    /// Published, shown as plain text (never clickable).
    #[default]
    Plain,
    /// Held for review.
    Hold,
}

/// A show's chat settings.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct ChatPolicy {
    /// Least seconds between two messages of one viewer; 0 is off.
    pub slow_mode_s: u64,
    /// Only moderators and the creator may chat.
    pub paused: bool,
    /// Blocked terms as entered (`*` wildcards at the start or end).
    pub blocked_terms: Vec<String>,
    pub links: LinkPolicy,
}

/// Who may moderate: the creator and moderators.
pub fn is_moderator(role: Option<Role>) -> bool {
    matches!(role, Some(Role::Creator | Role::Moderator))
}

/// A blocked term, parsed: its skeleton and where the wildcards are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub raw: String,
    core: Vec<String>,
    any_prefix: bool,
    any_suffix: bool,
}

/// Parses a term: 1-64 characters, `*` only at the start and/or end.
pub fn parse_term(raw: &str) -> Result<Term, DomainError> {
    let raw = raw.trim();
    let bad = |why: &str| DomainError::invalid(Code::InvalidTerm, format!("'{raw}': {why}"));
    if raw.is_empty() || raw.chars().count() > MAX_TERM_CHARS {
        return Err(bad("a term has 1 to 64 characters"));
    }
    let any_prefix = raw.starts_with('*');
    let any_suffix = raw.len() > 1 && raw.ends_with('*');
    let inner = raw.trim_start_matches('*').trim_end_matches('*');
    if inner.contains('*') {
        return Err(bad("wildcards go only at the start or the end"));
    }
    let core = words(&skeleton(inner));
    if core.is_empty() {
        return Err(bad("a term needs letters or digits"));
    }
    Ok(Term {
        raw: raw.to_string(),
        core,
        any_prefix,
        any_suffix,
    })
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl Term {
    /// Whether the term occurs in `text_words` (the words of a skeleton).
    fn found_in(&self, text_words: &[String]) -> bool {
        let n = self.core.len();
        if n == 0 || text_words.len() < n {
            return false;
        }
        text_words.windows(n).any(|window| {
            window
                .iter()
                .zip(&self.core)
                .enumerate()
                .all(|(i, (word, term))| {
                    let first = i == 0;
                    let last = i == n - 1;
                    match (first && self.any_prefix, last && self.any_suffix) {
                        (true, true) => word.contains(term.as_str()),
                        (true, false) => word.ends_with(term.as_str()),
                        (false, true) => word.starts_with(term.as_str()),
                        (false, false) => word == term,
                    }
                })
        }) || self.joined_match(text_words)
    }

    /// Catches spaced-out spellings ("s p a m") of single-word terms.
    fn joined_match(&self, text_words: &[String]) -> bool {
        if self.core.len() != 1 || self.any_prefix || self.any_suffix {
            return false;
        }
        let term = &self.core[0];
        if term.chars().count() < 3 {
            return false;
        }
        let singles: String = text_words
            .iter()
            .map(|w| {
                if w.chars().count() == 1 {
                    w.as_str()
                } else {
                    "\u{1}"
                }
            })
            .collect();
        singles
            .split('\u{1}')
            .any(|run| run.contains(term.as_str()))
    }
}

/// The first blocked term that occurs in `text`.
pub fn blocked_term<'a>(terms: &'a [Term], text: &str) -> Option<&'a Term> {
    let text_words = words(&skeleton(text));
    terms.iter().find(|t| t.found_in(&text_words))
}

/// Whether `text` contains something a browser or a reader would follow as a link.
pub fn contains_link(text: &str) -> bool {
    const TLDS: &[&str] = &[
        "com", "net", "org", "io", "co", "shop", "store", "ly", "me", "app", "xyz", "info", "biz",
        "link", "site", "online", "gg", "tv", "ru", "cn", "uk", "de", "us",
    ];
    let lower = text.to_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return true;
    }
    lower
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>' | '"' | '\''))
        .any(|token| {
            let token =
                token.trim_matches(|c: char| matches!(c, '.' | ',' | '!' | '?' | ';' | ':'));
            let mut parts = token.rsplitn(2, '.');
            match (parts.next(), parts.next()) {
                (Some(tld), Some(host)) => {
                    let tld = tld.split('/').next().unwrap_or("");
                    !host.is_empty()
                        && host
                            .chars()
                            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.'))
                        && TLDS.contains(&tld)
                }
                _ => false,
            }
        })
}

/// Why a message is held for review instead of published.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    BlockedTerm,
    Link,
}

/// What happens to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Publish,
    Hold(HoldReason),
    Refuse(DomainError),
}

/// The sender's standing in the show, read by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    pub banned: bool,
    /// Until when the sender is timed out, if they are.
    pub timed_out_until: Option<Timestamp>,
    /// When the sender's last message was accepted.
    pub last_message_at: Option<Timestamp>,
}

impl Standing {
    /// Why the member may not take part at `now` (banned, or timed out), if they may not: the
    /// refusal of their chat messages, and of their auction bids.
    pub fn silenced(&self, now: Timestamp) -> Option<DomainError> {
        if self.banned {
            return Some(DomainError::forbidden(
                Code::Banned,
                "you are banned from this chat",
            ));
        }
        let until = self.timed_out_until.filter(|until| *until > now)?;
        let left = (until - now).num_seconds().max(1);
        Some(DomainError::forbidden(
            Code::TimedOut,
            format!("you are timed out for {left} more seconds"),
        ))
    }
}

/// Judges one chat message. Moderators and the creator are exempt from slow mode, pause,
/// blocked terms and link holds.
pub fn judge(
    policy: &ChatPolicy,
    terms: &[Term],
    role: Option<Role>,
    standing: Standing,
    text: &str,
    now: Timestamp,
) -> Verdict {
    if let Some(refusal) = standing.silenced(now) {
        return Verdict::Refuse(refusal);
    }
    if is_moderator(role) {
        return Verdict::Publish;
    }
    if policy.paused {
        return Verdict::Refuse(DomainError::conflict(Code::ChatPaused, "chat is paused"));
    }
    if policy.slow_mode_s > 0
        && let Some(last) = standing.last_message_at
    {
        let next = last + chrono::Duration::seconds(policy.slow_mode_s as i64);
        if next > now {
            let left = (next - now).num_milliseconds().max(1);
            return Verdict::Refuse(DomainError::conflict(
                Code::SlowMode,
                format!(
                    "slow mode: wait {} s between messages ({} ms left)",
                    policy.slow_mode_s, left
                ),
            ));
        }
    }
    if blocked_term(terms, text).is_some() {
        return Verdict::Hold(HoldReason::BlockedTerm);
    }
    if policy.links == LinkPolicy::Hold && contains_link(text) {
        return Verdict::Hold(HoldReason::Link);
    }
    Verdict::Publish
}

/// Who did a moderation action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// One line of a show's audit log: who did what, to whom, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: Actor,
    /// The command, e.g. `mod.ban`.
    pub action: String,
    /// The viewer or message acted on.
    pub target: Option<String>,
    pub reason: Option<String>,
    /// Action-specific facts (the timeout's length, the terms added, …).
    #[schema(value_type = Option<Object>)]
    pub details: serde_json::Value,
}

/// A message waiting for a moderator's decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldMessage {
    pub message: super::chat::ChatMessage,
    pub reason: HoldReason,
    pub held_at: Timestamp,
}

/// Validates a timeout's length.
pub fn timeout_seconds(seconds: u64) -> Result<u64, DomainError> {
    if !(MIN_TIMEOUT_S..=MAX_TIMEOUT_S).contains(&seconds) {
        return Err(DomainError::invalid(
            Code::InvalidDuration,
            format!("a timeout lasts {MIN_TIMEOUT_S} s to {MAX_TIMEOUT_S} s"),
        ));
    }
    Ok(seconds)
}

/// Validates slow mode's interval (0 turns it off).
pub fn slow_mode_seconds(seconds: u64) -> Result<u64, DomainError> {
    if seconds > MAX_SLOW_MODE_S {
        return Err(DomainError::invalid(
            Code::InvalidDuration,
            format!("slow mode is 0 (off) to {MAX_SLOW_MODE_S} s"),
        ));
    }
    Ok(seconds)
}

/// An optional reason: trimmed, bounded, plain text.
pub fn reason(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    super::names::optional_long(raw, "reason", MAX_REASON_CHARS, Code::InvalidReason)
        .map(|r| r.map(|r| r.replace(['\n', '\r', '\t', '\u{2028}', '\u{2029}'], " ")))
}

/// Applies a terms edit: adds and removes (by skeleton, so "SPAM" removes "spam"), keeping the
/// list bounded and free of duplicates.
pub fn edit_terms(
    current: &[String],
    add: &[String],
    remove: &[String],
) -> Result<Vec<String>, DomainError> {
    let mut next: Vec<String> = current.to_vec();
    let key = |t: &str| skeleton(t.trim());
    let removing: Vec<String> = remove.iter().map(|t| key(t)).collect();
    next.retain(|t| !removing.contains(&key(t)));
    for raw in add {
        let term = parse_term(raw)?;
        if !next.iter().any(|t| key(t) == key(&term.raw)) {
            next.push(term.raw);
        }
    }
    if next.len() > MAX_TERMS {
        return Err(DomainError::invalid(
            Code::TooManyTerms,
            format!("at most {MAX_TERMS} blocked terms"),
        ));
    }
    Ok(next)
}

/// How many of the newest audit entries to read: 1-1000, 200 when not asked.
pub fn audit_limit(asked: Option<u32>) -> Result<usize, DomainError> {
    let limit = asked.unwrap_or(DEFAULT_AUDIT_READ);
    if !(1..=MAX_AUDIT_READ).contains(&limit) {
        return Err(DomainError::invalid(
            Code::InvalidLimit,
            "limit must be 1-1000",
        ));
    }
    Ok(limit as usize)
}

/// Parses stored terms (already validated when added).
pub fn compile_terms(terms: &[String]) -> Vec<Term> {
    terms.iter().filter_map(|t| parse_term(t).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn terms(list: &[&str]) -> Vec<Term> {
        list.iter().map(|t| parse_term(t).unwrap()).collect()
    }

    #[test]
    fn look_alike_spellings_are_caught() {
        let list = terms(&["scam", "free money", "crypto*", "*coin"]);
        for text in [
            "this is a scam",
            "SCAM!!",
            "ѕсаm",          // Cyrillic look-alikes
            "ｓｃａｍ",      // fullwidth
            "sc\u{200B}am",  // zero-width space
            "5c4m",          // digits
            "scám",          // accents
            "s c a m alert", // spaced out
            "get FREE   money now",
            "cryptocurrency giveaway",
            "buy bitcoin",
        ] {
            assert!(
                blocked_term(&list, text).is_some(),
                "{text:?} should be caught"
            );
        }
        for text in [
            "scampi for dinner",
            "money is free",
            "coins",
            "a cryp tic note",
            "escape",
        ] {
            assert!(blocked_term(&list, text).is_none(), "{text:?} should pass");
        }
    }

    #[test]
    fn terms_are_validated_and_edited_by_skeleton() {
        assert!(parse_term("sp*am").is_err());
        assert!(parse_term("").is_err());
        assert!(parse_term("***").is_err());
        assert!(parse_term(&"x".repeat(65)).is_err());
        let next = edit_terms(&["spam".into()], &["SPAM".into(), "eggs*".into()], &[]).unwrap();
        assert_eq!(next, vec!["spam".to_string(), "eggs*".to_string()]);
        let next = edit_terms(&next, &[], &["Spam".into()]).unwrap();
        assert_eq!(next, vec!["eggs*".to_string()]);
    }

    #[test]
    fn links_are_recognised() {
        for text in [
            "see https://x.test/a",
            "www.example.org",
            "go to bit.ly/abc",
            "shop at evil.com!",
        ] {
            assert!(contains_link(text), "{text}");
        }
        for text in ["hello there", "price is 12.50", "a.b", "version 1.2.3"] {
            assert!(!contains_link(text), "{text}");
        }
    }

    #[test]
    fn verdicts_follow_the_policy_and_exempt_moderators() {
        let policy = ChatPolicy {
            slow_mode_s: 10,
            paused: false,
            blocked_terms: vec![],
            links: LinkPolicy::Hold,
        };
        let list = terms(&["scam"]);
        let v = Some(Role::Viewer);
        let fresh = Standing::default();
        assert_eq!(
            judge(&policy, &list, v, fresh, "hi", t(0)),
            Verdict::Publish
        );
        let recent = Standing {
            last_message_at: Some(t(0)),
            ..fresh
        };
        match judge(&policy, &list, v, recent, "hi", t(5)) {
            Verdict::Refuse(e) => assert_eq!(e.code, "slow_mode"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge(&policy, &list, v, recent, "hi", t(10)),
            Verdict::Publish
        );
        assert_eq!(
            judge(&policy, &list, v, fresh, "a scam", t(0)),
            Verdict::Hold(HoldReason::BlockedTerm)
        );
        assert_eq!(
            judge(&policy, &list, v, fresh, "x.com", t(0)),
            Verdict::Hold(HoldReason::Link)
        );
        let m = Some(Role::Moderator);
        assert_eq!(
            judge(&policy, &list, m, recent, "a scam at x.com", t(1)),
            Verdict::Publish
        );
        let paused = ChatPolicy {
            paused: true,
            ..policy.clone()
        };
        match judge(&paused, &list, v, fresh, "hi", t(0)) {
            Verdict::Refuse(e) => assert_eq!(e.code, "chat_paused"),
            other => panic!("{other:?}"),
        }
        let timed = Standing {
            timed_out_until: Some(t(30)),
            ..fresh
        };
        match judge(&policy, &list, v, timed, "hi", t(0)) {
            Verdict::Refuse(e) => {
                assert_eq!(e.code, "timed_out");
                assert!(e.message.contains("30"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge(&policy, &list, v, timed, "hi", t(30)),
            Verdict::Publish
        );
        let banned = Standing {
            banned: true,
            ..fresh
        };
        assert!(matches!(
            judge(&policy, &list, m, banned, "hi", t(0)),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn durations_are_bounded() {
        assert!(timeout_seconds(9).is_err());
        assert!(timeout_seconds(10).is_ok());
        assert!(timeout_seconds(86_400).is_ok());
        assert!(timeout_seconds(86_401).is_err());
        assert!(slow_mode_seconds(0).is_ok());
        assert!(slow_mode_seconds(3601).is_err());
    }

    #[test]
    fn audit_reads_are_bounded() {
        assert_eq!(audit_limit(None), Ok(200));
        assert_eq!(audit_limit(Some(1)), Ok(1));
        assert_eq!(audit_limit(Some(1000)), Ok(1000));
        for bad in [0, 1001] {
            let e = audit_limit(Some(bad)).unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.message.as_str()),
                ("invalid_limit", "limit must be 1-1000")
            );
        }
    }
}
