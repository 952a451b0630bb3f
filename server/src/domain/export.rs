//! Text bound for spreadsheets. Imported catalog text (a Shopify title, a description) is
//! stored as the creator typed it; a spreadsheet that opens a CSV would run a cell starting
//! with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula ("CSV injection"), so every
//! CSV this server writes passes each text cell through [`csv_safe`]. Quoting of commas,
//! quotes and newlines stays the CSV writer's job.

use std::borrow::Cow;

/// Characters that make a spreadsheet read a cell as a formula when they come first (after
/// any leading spaces), including the full-width forms some spreadsheets accept as well.
fn starts_formula(c: char) -> bool {
    matches!(
        c,
        '=' | '+' | '-' | '@' | '\t' | '\r' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}'
    )
}

/// `field` made safe for a spreadsheet cell: a field whose first character (after leading
/// spaces and newlines) would start a formula gets a leading `'`, which spreadsheets read as
/// "this is text" and do not show; anything else is returned unchanged.
pub fn csv_safe(field: &str) -> Cow<'_, str> {
    let first = field.chars().find(|c| !matches!(c, ' ' | '\n'));
    match first {
        Some(c) if starts_formula(c) => Cow::Owned(format!("'{field}")),
        _ => Cow::Borrowed(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised() {
        #[rustfmt::skip]
        let neutralised = [
            "=HYPERLINK(\"http://x.test\",\"click\")", "=1+1", "+1", "-1+2", "@SUM(A1:A2)",
            "\t=1", "\r=1", "  =cmd|' /C calc'!A0", "\n=1", "\u{FF1D}1+1", "\u{FF0B}1",
            "\u{FF0D}1", "\u{FF20}SUM(1)",
        ];
        for field in neutralised {
            assert_eq!(csv_safe(field), format!("'{field}"), "{field:?}");
        }
        for field in [
            "Mug",
            "",
            "  ",
            "1+1",
            "Price: =5",
            "'=already quoted",
            "é=mc²",
        ] {
            assert!(
                matches!(csv_safe(field), Cow::Borrowed(f) if f == field),
                "{field:?}"
            );
        }
    }

    /// What a CSV writer does with it: the cell a spreadsheet reads starts with `'`, and the
    /// writer's quoting still keeps commas and quotes inside the cell.
    #[test]
    fn a_csv_written_through_it_carries_no_formula() {
        let mut out = Vec::new();
        {
            let mut writer = csv::Writer::from_writer(&mut out);
            let fields = ["=HYPERLINK(\"http://x.test\",\"a, b\")", "Mug"];
            let record: Vec<Cow<str>> = fields.iter().map(|f| csv_safe(f)).collect();
            writer
                .write_record(record.iter().map(|f| f.as_ref()))
                .unwrap();
            writer.flush().unwrap();
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_slice());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "'=HYPERLINK(\"http://x.test\",\"a, b\")");
        assert_eq!(&row[1], "Mug");
    }
}
