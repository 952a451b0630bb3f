//! Validation of short human text: display names, titles, SKUs.
//!
//! Rules: trimmed, not empty, bounded in characters, and free of control characters and of the
//! invisible bidirectional-override characters that can make a name render as something else.

use super::DomainError;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 32;

/// True for characters that must never appear in a name or a title: C0/C1 controls, and the
/// Unicode bidi embedding/override/isolate controls (U+202A..U+202E, U+2066..U+2069).
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Trims `raw` and checks it is 1..=`max` characters with no forbidden character.
pub fn short_text(raw: &str, max: usize) -> Result<String, ShortTextError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ShortTextError::Empty);
    }
    if text.chars().count() > max {
        return Err(ShortTextError::TooLong);
    }
    if text.chars().any(is_forbidden_char) {
        return Err(ShortTextError::ForbiddenChar);
    }
    Ok(text.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortTextError {
    Empty,
    TooLong,
    ForbiddenChar,
}

impl ShortTextError {
    pub fn describe(self, field: &str, max: usize) -> String {
        match self {
            ShortTextError::Empty => format!("{field} must not be empty"),
            ShortTextError::TooLong => format!("{field} must be at most {max} characters"),
            ShortTextError::ForbiddenChar => {
                format!("{field} must not contain control or bidi-override characters")
            }
        }
    }
}

/// A viewer's or creator's display name.
pub fn display_name(raw: &str) -> Result<String, DomainError> {
    short_text(raw, MAX_DISPLAY_NAME).map_err(|e| {
        DomainError::invalid(
            "invalid_display_name",
            e.describe("display_name", MAX_DISPLAY_NAME),
        )
    })
}

/// A required single-line field such as a title (`code` names the error, e.g. `invalid_title`).
pub fn required(
    raw: &str,
    field: &str,
    max: usize,
    code: &'static str,
) -> Result<String, DomainError> {
    short_text(raw, max).map_err(|e| DomainError::invalid(code, e.describe(field, max)))
}

/// An optional multi-line field such as a description: newlines and tabs allowed, other
/// controls refused; empty becomes `None`.
pub fn optional_long(
    raw: Option<&str>,
    field: &str,
    max: usize,
    code: &'static str,
) -> Result<Option<String>, DomainError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(DomainError::invalid(
            code,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c != '\n' && c != '\t' && c != '\r' && is_forbidden_char(c))
    {
        return Err(DomainError::invalid(
            code,
            format!("{field} must not contain control or bidi-override characters"),
        ));
    }
    Ok(Some(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(display_name("  Dana  ").unwrap(), "Dana");
        assert_eq!(display_name("دانا").unwrap(), "دانا");
        assert_eq!(display_name("").unwrap_err().code, "invalid_display_name");
        assert_eq!(
            display_name("   ").unwrap_err().code,
            "invalid_display_name"
        );
        assert!(display_name(&"a".repeat(MAX_DISPLAY_NAME)).is_ok());
        assert!(display_name(&"a".repeat(MAX_DISPLAY_NAME + 1)).is_err());
        // Length counts characters, not bytes.
        assert!(display_name(&"é".repeat(MAX_DISPLAY_NAME)).is_ok());
    }

    #[test]
    fn control_and_bidi_characters_are_refused() {
        for bad in [
            "Da\u{0}na",
            "Da\nna",
            "Dana\u{202E}evil",
            "x\u{2066}y",
            "\u{7f}",
        ] {
            assert!(display_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn long_text_allows_newlines_only() {
        assert_eq!(
            optional_long(
                Some(" line 1\nline 2 "),
                "description",
                100,
                "invalid_description"
            )
            .unwrap()
            .as_deref(),
            Some("line 1\nline 2")
        );
        assert_eq!(optional_long(Some("  "), "d", 10, "c").unwrap(), None);
        assert!(optional_long(Some("a\u{1b}b"), "d", 10, "c").is_err());
        assert!(optional_long(Some("abcdef"), "d", 5, "c").is_err());
    }
}
