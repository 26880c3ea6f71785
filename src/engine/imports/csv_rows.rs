//! The record structure of CSV text, found before Polars parses it: where
//! each record starts (its line number, counting quoted line breaks) and how
//! many fields it has, so that malformed rows are reported by line and can be
//! left out by policy. Also Latin-1 to UTF-8.
//!
//! Must not parse values: Polars does that.

/// One record of CSV text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// 1-based line number where the record starts.
    pub line: u64,
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
    pub fields: usize,
}

/// Splits `text` into records, honouring `quote` (doubled quotes inside quoted fields).
pub fn records(text: &[u8], delimiter: u8, quote: Option<u8>) -> Vec<Record> {
    let mut records = Vec::new();
    let (mut line, mut start, mut fields, mut in_quotes) = (1_u64, 0_usize, 1_usize, false);
    let mut record_line = 1;
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        if Some(byte) == quote {
            in_quotes = !in_quotes;
        } else if byte == b'\n' {
            line += 1;
            if !in_quotes {
                let end = if index > start && text[index - 1] == b'\r' { index - 1 } else { index };
                if end > start {
                    records.push(Record { line: record_line, start, end, fields });
                }
                start = index + 1;
                fields = 1;
                record_line = line;
            }
        } else if byte == delimiter && !in_quotes {
            fields += 1;
        }
        index += 1;
    }
    let end = if text.len() > start && text[text.len() - 1] == b'\r' { text.len() - 1 } else { text.len() };
    if end > start {
        records.push(Record { line: record_line, start, end, fields });
    }
    records
}

/// ISO-8859-1 bytes as UTF-8 text (every byte is the code point of the same number).
pub fn latin1_to_utf8(bytes: &[u8]) -> Vec<u8> {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fields_and_lines_across_quoted_line_breaks() {
        let text = b"id,name,note\r\n1,\"a, b\",x\n2,\"two\nlines\",\"say \"\"hi\"\"\"\n3,short\n\n4,d,e\n";
        let records = records(text, b',', Some(b'"'));
        let summary: Vec<(u64, usize)> = records.iter().map(|r| (r.line, r.fields)).collect();
        assert_eq!(summary, vec![(1, 3), (2, 3), (3, 3), (5, 2), (7, 3)]);
        assert_eq!(&text[records[0].start..records[0].end], b"id,name,note");
    }

    #[test]
    fn latin1_becomes_utf8() {
        assert_eq!(String::from_utf8(latin1_to_utf8(b"caf\xe9 \xfc")).unwrap(), "café ü");
    }
}
