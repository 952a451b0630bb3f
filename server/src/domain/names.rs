//! Validation of short human text: display names, titles, SKUs, chat lines.
//!
//! Rules: trimmed, not empty, bounded in characters, and free of control characters, of line
//! separators and of the invisible bidirectional-override characters that can make a name
//! render as something else. Text must also show something: a string made only of invisible
//! characters (zero-width spaces, fillers, tags, variation selectors, soft hyphens) counts as
//! empty, and a character may carry only a few combining marks, so "Zalgo" stacks cannot spill
//! over neighbouring lines. Viewers' display names may not read as the host's: the reserved
//! role names and the creator's own name are compared by their look-alike [`skeleton`], the
//! comparable form of text that blocked chat terms are matched on too.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::DomainError;
use crate::domain::Code;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 32;

/// Most combining marks one character may carry, counted after canonical decomposition.
/// Vietnamese needs 2 and fully pointed Hebrew up to 4; "Zalgo" text stacks dozens.
pub const MAX_MARKS_PER_CHAR: usize = 4;

/// Names a viewer may not take because they read as the host or the show's staff (compared by
/// skeleton, so "ＣＲＥＡＴＯＲ", "M0derator" and "A d m i n" are caught too).
pub const RESERVED_NAMES: &[&str] = &[
    "creator",
    "host",
    "moderator",
    "mod",
    "admin",
    "administrator",
    "livesale",
    "system",
];

/// True for characters that must never appear in a name or a title: C0/C1 controls, the
/// Unicode bidi embedding/override/isolate controls (U+202A..U+202E, U+2066..U+2069), and the
/// line and paragraph separators (U+2028, U+2029), which break a one-line text in two.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// True for characters that render as nothing (or as a blank that is not whitespace). They are
/// allowed inside visible text, where emoji sequences (ZWJ, variation selectors, tag flags) and
/// some scripts (ZWNJ) need them, but text made only of them is empty.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{061C}' // Arabic letter mark
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors, vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, (non-)joiner, LRM, RLM
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, format controls
            | '\u{2800}' // Braille pattern blank
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}' // zero-width no-break space (byte order mark)
            | '\u{1D173}'..='\u{1D17A}' // musical formatting controls
            | '\u{E0000}'..='\u{E007F}' // tag characters
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

/// Whether `text` has at least one character a reader sees: not whitespace, not invisible,
/// not a combining mark floating on nothing.
fn shows_something(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_whitespace() && !is_invisible(c) && !is_combining_mark(c))
}

/// Whether some character of `text` carries more than [`MAX_MARKS_PER_CHAR`] combining marks.
/// Invisible characters between marks do not start a new character (a ZWJ cannot launder a
/// stack); precomposed letters count by their decomposition.
fn stacks_marks(text: &str) -> bool {
    let mut run = 0;
    for c in text.nfd() {
        if is_combining_mark(c) {
            run += 1;
            if run > MAX_MARKS_PER_CHAR {
                return true;
            }
        } else if !is_invisible(c) {
            run = 0;
        }
    }
    false
}

/// Trims `raw` and checks it is 1..=`max` characters with no forbidden character, shows
/// something, and stacks no more than [`MAX_MARKS_PER_CHAR`] marks on a character.
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
    if !shows_something(text) {
        return Err(ShortTextError::Invisible);
    }
    if stacks_marks(text) {
        return Err(ShortTextError::StackedMarks);
    }
    Ok(text.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortTextError {
    Empty,
    /// Only invisible characters (and whitespace or lone marks): empty to a reader.
    Invisible,
    TooLong,
    ForbiddenChar,
    /// A character with more than [`MAX_MARKS_PER_CHAR`] combining marks.
    StackedMarks,
}

impl ShortTextError {
    pub fn describe(self, field: &str, max: usize) -> String {
        match self {
            ShortTextError::Empty => format!("{field} must not be empty"),
            ShortTextError::Invisible => {
                format!("{field} must contain something visible, not only invisible characters")
            }
            ShortTextError::TooLong => format!("{field} must be at most {max} characters"),
            ShortTextError::ForbiddenChar => format!(
                "{field} must not contain control, line-separator or bidi-override characters"
            ),
            ShortTextError::StackedMarks => format!(
                "{field} must not stack more than {MAX_MARKS_PER_CHAR} combining marks on a character"
            ),
        }
    }
}

/// A viewer's or creator's display name.
pub fn display_name(raw: &str) -> Result<String, DomainError> {
    short_text(raw, MAX_DISPLAY_NAME).map_err(|e| {
        DomainError::invalid(
            Code::InvalidDisplayName,
            e.describe("display_name", MAX_DISPLAY_NAME),
        )
    })
}

/// A viewer's display name in a show whose creator is called `host`: a valid
/// [`display_name`] that does not read as a reserved role name ([`RESERVED_NAMES`]) or as the
/// host's own name. Both sides are compared by skeleton (compatibility-normalised, so
/// full-width and styled letters are plain; case-folded; accents, invisible characters,
/// spaces and punctuation dropped; look-alike letters and digits folded to Latin).
pub fn viewer_name(raw: &str, host: &str) -> Result<String, DomainError> {
    let name = display_name(raw)?;
    let key = name_key(&name);
    let host_key = name_key(host);
    let reserved = RESERVED_NAMES.iter().any(|r| *r == key);
    if reserved || (!host_key.is_empty() && key == host_key) {
        return Err(DomainError::invalid(
            Code::ReservedDisplayName,
            "display_name is taken by the host or the show's staff; pick another name",
        ));
    }
    Ok(name)
}

/// The comparable core of a name: its skeleton with only letters and digits kept. A name with
/// none, such as "★", falls back to its compatibility form, case-folded, without whitespace,
/// so it still compares with itself.
fn name_key(name: &str) -> String {
    let core: String = skeleton(name)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    if !core.is_empty() {
        return core;
    }
    name.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && !is_invisible(*c))
        .collect()
}

/// The comparable form of text: compatibility-decomposed (fullwidth and styled letters become
/// plain), accents dropped, lower-cased, common look-alike letters from other scripts and
/// digit substitutions folded to Latin, and invisible characters removed.
pub fn skeleton(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .filter(|c| !is_invisible(*c))
        .flat_map(char::to_lowercase)
        .map(fold_lookalike)
        .collect()
}

/// Letters that render like Latin ones, and the usual digit/symbol stand-ins.
fn fold_lookalike(c: char) -> char {
    match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ɡ' => 'g',
        'ո' => 'n',
        'ս' => 'u',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        // Digits and symbols used as letters
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        other => other,
    }
}

/// A required single-line field such as a title (`code` names the error, e.g. `invalid_title`).
pub fn required(raw: &str, field: &str, max: usize, code: Code) -> Result<String, DomainError> {
    short_text(raw, max).map_err(|e| DomainError::invalid(code, e.describe(field, max)))
}

/// An optional multi-line field such as a description: newlines and tabs allowed, other
/// controls refused; empty becomes `None`.
pub fn optional_long(
    raw: Option<&str>,
    field: &str,
    max: usize,
    code: Code,
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
    // Line breaks (U+2028/U+2029 included) are allowed here: long text has lines.
    if text
        .chars()
        .any(|c| !matches!(c, '\n' | '\t' | '\r' | '\u{2028}' | '\u{2029}') && is_forbidden_char(c))
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
                Code::InvalidDescription
            )
            .unwrap()
            .as_deref(),
            Some("line 1\nline 2")
        );
        assert_eq!(optional_long(Some("  "), "d", 10, Code::C).unwrap(), None);
        assert!(optional_long(Some("a\u{1b}b"), "d", 10, Code::C).is_err());
        assert!(optional_long(Some("abcdef"), "d", 5, Code::C).is_err());
    }

    /// Every class of character that renders as nothing, alone and in runs: the text is
    /// empty to a reader, so it is refused as `Invisible` (chat maps it to `empty_message`).
    #[test]
    fn text_made_only_of_invisible_characters_is_empty() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("zero-width space", "\u{200B}"),
            ("zero-width non-joiner", "\u{200C}"),
            ("zero-width joiner", "\u{200D}"),
            ("left-to-right mark", "\u{200E}"),
            ("word joiner", "\u{2060}"),
            ("invisible times", "\u{2062}"),
            ("zero-width no-break space", "\u{FEFF}"),
            ("Hangul filler", "\u{3164}"),
            ("Hangul choseong filler", "\u{115F}"),
            ("halfwidth Hangul filler", "\u{FFA0}"),
            ("tag characters", "\u{E0001}\u{E0041}\u{E007F}"),
            ("soft hyphen", "\u{00AD}"),
            ("variation selector 16", "\u{FE0F}"),
            ("variation selector 1", "\u{FE00}"),
            ("variation selector supplement", "\u{E0100}"),
            ("Mongolian vowel separator", "\u{180E}"),
            ("Braille blank", "\u{2800}"),
            ("combining grapheme joiner", "\u{034F}"),
            ("Arabic letter mark", "\u{061C}"),
            ("a lone combining mark", "\u{0301}"),
            ("a mix with spaces", " \u{200B} \u{3164}\u{FEFF} \u{00AD} "),
            ("many of them", "\u{200B}\u{2060}\u{FEFF}\u{3164}\u{E0020}\u{00AD}\u{FE0F}"),
        ];
        for (what, text) in cases {
            assert_eq!(
                short_text(text, 50),
                Err(ShortTextError::Invisible),
                "{what}: {text:?}"
            );
            assert_eq!(
                display_name(text).unwrap_err().code,
                "invalid_display_name",
                "{what}"
            );
        }
        // Plain whitespace is trimmed away first, so it stays `Empty`.
        assert_eq!(
            short_text(" \u{3000}\u{2028} ", 10),
            Err(ShortTextError::Empty)
        );
    }

    /// The same characters inside visible text are kept: emoji sequences and scripts need them.
    #[test]
    fn invisible_characters_inside_visible_text_are_kept() {
        for text in [
            "\u{2764}\u{FE0F}",           // red heart emoji
            "\u{1F469}\u{200D}\u{1F4BB}", // woman technologist
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}", // flag of Scotland
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}", // Persian with ZWNJ
            "Ti\u{1EBF}ng Vi\u{1EC7}t",   // precomposed Vietnamese
            "Tie\u{0302}\u{0301}ng",      // decomposed Vietnamese
            "\u{05E9}\u{05BC}\u{05C1}\u{05B8}\u{0591}", // pointed Hebrew, 4 marks
            "co\u{00AD}operate",
        ] {
            assert_eq!(short_text(text, 50).as_deref(), Ok(text), "{text:?}");
        }
    }

    #[test]
    fn line_separators_are_forbidden_in_one_line_text() {
        for text in ["one\u{2028}two", "one\u{2029}two", "a\u{85}b"] {
            assert_eq!(
                short_text(text, 50),
                Err(ShortTextError::ForbiddenChar),
                "{text:?}"
            );
        }
        // Long text has lines: there they pass like a newline.
        assert_eq!(
            optional_long(Some("one\u{2028}two"), "d", 50, Code::C)
                .unwrap()
                .as_deref(),
            Some("one\u{2028}two")
        );
    }

    #[test]
    fn stacked_combining_marks_are_refused_beyond_the_limit() {
        let stack = |n: usize| format!("Z{}algo", "\u{0301}".repeat(n));
        assert!(short_text(&stack(MAX_MARKS_PER_CHAR), 50).is_ok());
        assert_eq!(
            short_text(&stack(MAX_MARKS_PER_CHAR + 1), 50),
            Err(ShortTextError::StackedMarks)
        );
        #[rustfmt::skip]
        let cases: &[(&str, String)] = &[
            ("Zalgo", "h\u{0336}\u{0351}\u{0352}\u{0357}\u{035B}\u{0363}e\u{0315}llo".into()),
            // A precomposed letter counts its own accent: é + 4 more is 5.
            ("precomposed base", format!("\u{00E9}{}", "\u{0300}".repeat(4))),
            // Invisible characters between marks do not start a new character.
            ("laundered through ZWJ", format!("a{}\u{200D}{}", "\u{0301}".repeat(3), "\u{0301}".repeat(3))),
            ("enclosing marks", format!("x{}", "\u{20DD}".repeat(5))),
            ("variation selectors", format!("x{}", "\u{FE0F}".repeat(5))),
        ];
        for (what, text) in cases {
            assert_eq!(
                short_text(text, 50),
                Err(ShortTextError::StackedMarks),
                "{what}: {text:?}"
            );
        }
        // Marks spread over many letters are fine however many there are.
        let spread = "a\u{0301}".repeat(20);
        assert!(short_text(&spread, 50).is_ok());
    }

    #[test]
    fn skeletons_fold_look_alikes_accents_and_invisible_characters() {
        for text in [
            "scam",
            "SCAM",
            "\u{0455}\u{0441}\u{0430}m",
            "\u{FF53}\u{FF43}\u{FF41}\u{FF4D}",
            "sc\u{200B}am",
            "5c4m",
            "sc\u{00E1}m",
        ] {
            assert_eq!(skeleton(text), "scam", "{text:?}");
        }
        assert_eq!(skeleton("Free Money"), "free money");
        assert_ne!(skeleton("scum"), "scam");
    }

    #[test]
    fn viewer_names_cannot_impersonate_the_host() {
        let host = "Dana's Shop";
        #[rustfmt::skip]
        let refused: &[(&str, &str)] = &[
            ("a reserved role", "Creator"),
            ("lower case", "moderator"),
            ("upper case", "MODERATOR"),
            ("full-width letters", "\u{FF23}\u{FF52}\u{FF45}\u{FF41}\u{FF54}\u{FF4F}\u{FF52}"),
            ("full-width upper case", "\u{FF2D}\u{FF2F}\u{FF24}"),
            ("mathematical bold", "\u{1D400}\u{1D41D}\u{1D426}\u{1D422}\u{1D427}"),
            ("spaced out", "H o s t"),
            ("punctuated", "Admin!"),
            ("digit for letter", "M0derator"),
            ("Cyrillic look-alikes", "\u{0421}re\u{0430}tor"),
            ("accented", "Cr\u{00E9}ator"),
            ("invisible inside", "Crea\u{200B}tor"),
            ("the host's name", "Dana's Shop"),
            ("the host's name in other case", "dana's shop"),
            ("the host's name full-width", "\u{FF24}\u{FF41}\u{FF4E}\u{FF41}\u{FF53} \u{FF33}\u{FF48}\u{FF4F}\u{FF50}"),
            ("the host's name without punctuation", "Danas Shop"),
        ];
        for (what, name) in refused {
            assert_eq!(
                viewer_name(name, host).unwrap_err().code,
                "reserved_display_name",
                "{what}: {name:?}"
            );
        }
        for name in [
            "Dana",
            "Shop fan",
            "Moderately happy",
            "Hostess Kim",
            "Guest",
        ] {
            assert_eq!(viewer_name(name, host).as_deref(), Ok(name), "{name:?}");
        }
        // Invalid names keep their own code.
        assert_eq!(
            viewer_name("\u{200B}", host).unwrap_err().code,
            "invalid_display_name"
        );
        // A host whose name has no letters still cannot be copied.
        assert_eq!(
            viewer_name("\u{2605}", "\u{2605}").unwrap_err().code,
            "reserved_display_name"
        );
        assert!(viewer_name("\u{2606}", "\u{2605}").is_ok());
    }
}
