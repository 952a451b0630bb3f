//! QR codes: an SVG for pages (the studio's "add a phone as a camera" link) and Unicode half
//! blocks for the terminal banner.

use qrcode::{Color, EcLevel, QrCode};

/// Longest text encoded, in bytes (a camera invite link is about 400).
pub const MAX_TEXT_BYTES: usize = 2048;

/// Why a text cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("the text is empty")]
    Empty,
    #[error("the text is longer than {MAX_TEXT_BYTES} bytes")]
    TooLong,
    #[error("the text does not fit in a QR code: {0}")]
    DoesNotFit(String),
}

/// The modules of a code, row by row (`true` is dark), and its width.
fn modules(text: &str, level: EcLevel) -> Result<(Vec<bool>, usize), QrError> {
    if text.is_empty() {
        return Err(QrError::Empty);
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(QrError::TooLong);
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), level)
        .map_err(|e| QrError::DoesNotFit(e.to_string()))?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok((dark, width))
}

/// An SVG of the code: black modules on white with the standard four-module quiet zone, one
/// unit per module (`viewBox`), 4 px per module unless the page sizes it.
pub fn svg(text: &str) -> Result<String, QrError> {
    let (dark, width) = modules(text, EcLevel::M)?;
    const QUIET: usize = 4;
    let size = width + 2 * QUIET;
    let mut path = String::new();
    for y in 0..width {
        let mut x = 0;
        while x < width {
            if !dark[y * width + x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && dark[y * width + x] {
                x += 1;
            }
            // One rectangle per horizontal run of dark modules.
            path.push_str(&format!(
                "M{} {}h{}v1h-{}z",
                start + QUIET,
                y + QUIET,
                x - start,
                x - start
            ));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>\n",
        px = size * 4
    ))
}

/// The code as lines of Unicode half blocks, two modules per character cell, for a terminal.
/// Light modules and the quiet zone are drawn (█ ▀ ▄) and dark ones left blank, so on the usual
/// dark terminal background the code reads dark-on-light as scanners expect.
pub fn terminal(text: &str) -> Result<Vec<String>, QrError> {
    let (dark, width) = modules(text, EcLevel::L)?;
    const QUIET: isize = 2;
    let size = width as isize + 2 * QUIET;
    let is_dark = |x: isize, y: isize| {
        let (x, y) = (x - QUIET, y - QUIET);
        x >= 0
            && y >= 0
            && (x as usize) < width
            && (y as usize) < width
            && dark[y as usize * width + x as usize]
    };
    let mut lines = Vec::new();
    let mut y = 0;
    while y < size {
        let line: String = (0..size)
            .map(|x| {
                let top_light = !is_dark(x, y);
                let bottom_light = y + 1 < size && !is_dark(x, y + 1);
                match (top_light, bottom_light) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                }
            })
            .collect();
        lines.push(line);
        y += 2;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(svg(""), Err(QrError::Empty));
        assert_eq!(svg(&"a".repeat(MAX_TEXT_BYTES + 1)), Err(QrError::TooLong));
        assert!(svg(&"a".repeat(MAX_TEXT_BYTES)).is_ok());
    }

    #[test]
    fn terminal_is_square_in_modules() {
        let lines = terminal("https://192.168.1.20:8080/camera/abc").unwrap();
        let cols = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == cols));
        assert_eq!(lines.len(), cols.div_ceil(2));
    }
}
