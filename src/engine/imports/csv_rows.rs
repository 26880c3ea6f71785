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

/// Records read from a file a chunk at a time, so a large file is never
/// held whole: each chunk owns the text of its records, with their line
/// numbers counted from the start of the file.
pub struct RecordReader<R> {
    reader: R,
    latin1: bool,
    delimiter: u8,
    quote: Option<u8>,
    /// Text read but not yet handed out; `scanned` bytes of it are scanned.
    buffer: Vec<u8>,
    scanned: usize,
    /// Scanner state: the current line, where the current record starts in
    /// `buffer`, its fields so far and line, and whether inside quotes.
    line: u64,
    start: usize,
    fields: usize,
    record_line: u64,
    in_quotes: bool,
    /// Complete records found in `buffer`, not yet handed out.
    found: Vec<Record>,
    at_end: bool,
    /// Bytes read from the file so far.
    pub bytes_read: u64,
    block: usize,
    /// Where each block is read into before it joins `buffer`.
    read_buffer: Vec<u8>,
}

/// Some records and the text they point into.
#[derive(Debug, Default)]
pub struct Chunk {
    pub text: Vec<u8>,
    pub records: Vec<Record>,
}

/// Bytes read from the file at a time.
const READ_BLOCK: usize = 8 << 20;

impl<R: std::io::Read> RecordReader<R> {
    pub fn new(reader: R, latin1: bool, delimiter: u8, quote: Option<u8>) -> Self {
        Self {
            reader,
            latin1,
            delimiter,
            quote,
            buffer: Vec::new(),
            scanned: 0,
            line: 1,
            start: 0,
            fields: 1,
            record_line: 1,
            in_quotes: false,
            found: Vec::new(),
            at_end: false,
            bytes_read: 0,
            block: READ_BLOCK,
            read_buffer: Vec::new(),
        }
    }

    /// Reads `block` bytes at a time (tests cross block edges with tiny blocks).
    #[cfg(test)]
    fn with_block(mut self, block: usize) -> Self {
        self.block = block;
        self
    }

    /// The next `max` records (fewer at the end of the file; none after it).
    pub fn next_chunk(&mut self, max: usize) -> std::io::Result<Chunk> {
        while self.found.len() < max && !(self.at_end && self.scanned == self.buffer.len()) {
            if self.scanned == self.buffer.len() {
                self.read_block()?;
                if self.at_end {
                    self.finish_last_record();
                    break;
                }
            }
            self.scan(max);
        }
        let take = self.found.len().min(max);
        let records: Vec<Record> = self.found.drain(..take).collect();
        // Hand out the text up to the end of the last record taken; keep the rest.
        let cut = match (records.last(), self.found.first()) {
            (_, Some(next)) => next.start,
            (Some(_), None) => self.start.min(self.buffer.len()),
            (None, None) => 0,
        };
        let rest = self.buffer.split_off(cut);
        let text = std::mem::replace(&mut self.buffer, rest);
        self.scanned -= cut;
        self.start -= cut.min(self.start);
        for record in &mut self.found {
            record.start -= cut;
            record.end -= cut;
        }
        Ok(Chunk { text, records })
    }

    fn read_block(&mut self) -> std::io::Result<()> {
        // One block buffer for the whole file: a fresh one per read costs a
        // page fault and a zeroed page for every 4 KB read.
        self.read_buffer.resize(self.block, 0);
        let mut filled = 0;
        while filled < self.read_buffer.len() {
            match self.reader.read(&mut self.read_buffer[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let block = &self.read_buffer[..filled];
        self.bytes_read += filled as u64;
        if filled == 0 {
            self.at_end = true;
        } else if self.latin1 {
            self.buffer.extend(latin1_to_utf8(block));
        } else {
            self.buffer.extend_from_slice(block);
        }
        Ok(())
    }

    /// Scans the unscanned text, stopping once `max` records are found. Line
    /// breaks, quotes and delimiters are found by `memchr`, not byte by byte.
    fn scan(&mut self, max: usize) {
        let text = &self.buffer;
        let mut index = self.scanned;
        while index < text.len() && self.found.len() < max {
            let rest = &text[index..];
            if self.in_quotes {
                // Inside quotes only the closing quote matters (and line breaks, for line numbers).
                let quote = self.quote.unwrap_or(b'"');
                let close = memchr::memchr(quote, rest);
                let inside = &rest[..close.unwrap_or(rest.len())];
                self.line += memchr::memchr_iter(b'\n', inside).count() as u64;
                index += inside.len();
                if close.is_some() {
                    self.in_quotes = false;
                    index += 1;
                }
                continue;
            }
            let stop = match self.quote {
                Some(quote) => memchr::memchr2(b'\n', quote, rest),
                None => memchr::memchr(b'\n', rest),
            };
            let field_text = &rest[..stop.unwrap_or(rest.len())];
            self.fields += memchr::memchr_iter(self.delimiter, field_text).count();
            index += field_text.len();
            if stop.is_none() {
                break;
            }
            if text[index] == b'\n' {
                self.line += 1;
                let end = if index > self.start && text[index - 1] == b'\r' { index - 1 } else { index };
                if end > self.start {
                    self.found.push(Record { line: self.record_line, start: self.start, end, fields: self.fields });
                }
                self.start = index + 1;
                self.fields = 1;
                self.record_line = self.line;
            } else {
                self.in_quotes = true;
            }
            index += 1;
        }
        self.scanned = index;
    }

    /// The file's last record when it has no line break after it.
    fn finish_last_record(&mut self) {
        let text = &self.buffer;
        let end = if text.len() > self.start && text[text.len() - 1] == b'\r' { text.len() - 1 } else { text.len() };
        if end > self.start {
            self.found.push(Record { line: self.record_line, start: self.start, end, fields: self.fields });
            self.start = text.len();
        }
    }
}

/// ISO-8859-1 bytes as UTF-8 text (every byte is the code point of the same number).
pub fn latin1_to_utf8(bytes: &[u8]) -> Vec<u8> {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `text` with its line, fields and text, read `max` at a time.
    fn all_records(text: &[u8], max: usize, block: usize) -> Vec<(u64, usize, Vec<u8>)> {
        let mut reader = RecordReader::new(text, false, b',', Some(b'"')).with_block(block);
        let mut seen = Vec::new();
        loop {
            let chunk = reader.next_chunk(max).unwrap();
            if chunk.records.is_empty() {
                break;
            }
            assert!(chunk.records.len() <= max);
            seen.extend(chunk.records.iter().map(|r| (r.line, r.fields, chunk.text[r.start..r.end].to_vec())));
        }
        assert_eq!(reader.bytes_read, text.len() as u64);
        seen
    }

    #[test]
    fn counts_fields_and_lines_across_quoted_line_breaks_a_chunk_at_a_time() {
        let text = b"id,name,note\r\n1,\"a, b\",x\n2,\"two\nlines\",\"say \"\"hi\"\"\"\n3,short\n\n4,d,e\n5,last,row";
        for (max, block) in [(1, 1), (2, 3), (3, 7), (100, 5), (100, READ_BLOCK)] {
            let records = all_records(text, max, block);
            let summary: Vec<(u64, usize)> = records.iter().map(|(line, fields, _)| (*line, *fields)).collect();
            assert_eq!(summary, vec![(1, 3), (2, 3), (3, 3), (5, 2), (7, 3), (8, 3)], "chunks of {max}");
            assert_eq!(records[0].2, b"id,name,note", "the line break (and its \\r) is not part of a record");
            assert_eq!(records[2].2, b"2,\"two\nlines\",\"say \"\"hi\"\"\"".to_vec());
            assert_eq!(records[5].2, b"5,last,row", "a last record without a line break");
        }
    }

    #[test]
    fn latin1_becomes_utf8() {
        assert_eq!(String::from_utf8(latin1_to_utf8(b"caf\xe9 \xfc")).unwrap(), "café ü");
    }
}
