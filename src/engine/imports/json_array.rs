//! Reads a JSON document that is an array of records without holding the
//! document: a byte scan that follows strings and nesting finds where each
//! element of the top-level array starts and ends, and hands the elements on
//! a block at a time as NDJSON (one record a line; line breaks between tokens
//! become spaces), which Polars' NDJSON reader parses.
//!
//! Owns only that split; parsing, typing and where the rows go belong to the
//! caller (`file`).

use std::io::Read;

/// Where the scan is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the opening `[`.
    BeforeArray,
    /// Inside the array, between elements.
    BetweenElements,
    /// Inside an element, `depth` brackets deep (≥ 1).
    InElement { depth: u32 },
    /// After the closing `]`.
    AfterArray,
}

/// A document that is not an array of objects, or could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// What is wrong, with the byte offset or record number it is at.
    pub why: String,
}

/// Splits a JSON array's elements into NDJSON blocks.
#[derive(Debug)]
pub struct ArraySplitter {
    place: Place,
    in_string: bool,
    escaped: bool,
    /// Bytes of the document scanned so far.
    offset: u64,
    /// Elements completed so far.
    records: u64,
}

impl Default for ArraySplitter {
    fn default() -> Self {
        Self { place: Place::BeforeArray, in_string: false, escaped: false, offset: 0, records: 0 }
    }
}

impl ArraySplitter {
    /// Elements completed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Scans `bytes`, the next piece of the document, appending each element's
    /// bytes to `out` and a line break after each finished element.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), SplitError> {
        for &byte in bytes {
            self.offset += 1;
            match self.place {
                Place::BeforeArray => match byte {
                    b'[' => self.place = Place::BetweenElements,
                    // A UTF-8 byte order mark, then white space.
                    0xEF | 0xBB | 0xBF if self.offset <= 3 => {}
                    _ if byte.is_ascii_whitespace() => {}
                    _ => return Err(self.unexpected(byte, "the document to be an array `[…]` of records")),
                },
                Place::BetweenElements => match byte {
                    b'{' => {
                        self.place = Place::InElement { depth: 1 };
                        out.push(byte);
                    }
                    b']' => self.place = Place::AfterArray,
                    b',' => {}
                    _ if byte.is_ascii_whitespace() => {}
                    _ => {
                        return Err(SplitError {
                            why: format!(
                                "element {} of the array (byte {}) is not an object {{…}}: tidepool imports arrays of records",
                                self.records + 1,
                                self.offset
                            ),
                        });
                    }
                },
                Place::InElement { depth } => self.element_byte(byte, depth, out),
                Place::AfterArray => {
                    if !byte.is_ascii_whitespace() {
                        return Err(self.unexpected(byte, "nothing after the array's closing `]`"));
                    }
                }
            }
        }
        Ok(())
    }

    fn element_byte(&mut self, byte: u8, depth: u32, out: &mut Vec<u8>) {
        if self.in_string {
            out.push(byte);
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
            }
            return;
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.place = Place::InElement { depth: depth + 1 },
            b'}' | b']' if depth == 1 => {
                out.push(byte);
                out.push(b'\n');
                self.records += 1;
                self.place = Place::BetweenElements;
                return;
            }
            b'}' | b']' => self.place = Place::InElement { depth: depth - 1 },
            _ => {}
        }
        // One record a line: line breaks between tokens become spaces.
        out.push(if byte == b'\n' || byte == b'\r' { b' ' } else { byte });
    }

    /// Whether the whole array has been read (call at the end of the input).
    pub fn finish(&self) -> Result<(), SplitError> {
        match self.place {
            Place::AfterArray => Ok(()),
            Place::BeforeArray if self.offset == 0 => Ok(()),
            _ => Err(SplitError {
                why: format!("the document ends inside the array (after {} complete records)", self.records),
            }),
        }
    }

    fn unexpected(&self, byte: u8, expected: &str) -> SplitError {
        SplitError { why: format!("byte {} is `{}`, where tidepool expects {expected}", self.offset, char::from(byte)) }
    }
}

/// Reads `reader` to its end, handing `on_block` NDJSON blocks of whole
/// records about `block_bytes` long, with the number of the block's first
/// record (from 1).
pub fn split_blocks<E>(
    reader: &mut impl Read,
    block_bytes: usize,
    mut on_block: impl FnMut(&[u8], u64) -> Result<(), E>,
    on_error: impl Fn(String) -> E,
) -> Result<(), E> {
    let mut splitter = ArraySplitter::default();
    let mut buffer = vec![0u8; block_bytes.clamp(1, 64 * 1024)];
    let mut block: Vec<u8> = Vec::with_capacity(block_bytes + 64 * 1024);
    let mut block_first_record = 1;
    loop {
        let read = reader.read(&mut buffer).map_err(|err| on_error(format!("cannot read: {err}")))?;
        if read == 0 {
            break;
        }
        splitter.feed(&buffer[..read], &mut block).map_err(|err| on_error(err.why))?;
        if block.len() >= block_bytes {
            // Whole records only: the unfinished one waits for the next block.
            let cut = block.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if cut > 0 {
                let rest = block.split_off(cut);
                on_block(&block, block_first_record)?;
                block_first_record = splitter.records() - count_records(&rest) + 1;
                block = rest;
            }
        }
    }
    splitter.finish().map_err(|err| on_error(err.why))?;
    if !block.is_empty() {
        on_block(&block, block_first_record)?;
    }
    Ok(())
}

fn count_records(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(document: &str, block_bytes: usize) -> Result<Vec<(String, u64)>, String> {
        let mut seen = Vec::new();
        split_blocks(
            &mut document.as_bytes(),
            block_bytes,
            |block, first| {
                seen.push((String::from_utf8(block.to_vec()).unwrap(), first));
                Ok(())
            },
            |why| why,
        )?;
        Ok(seen)
    }

    #[test]
    fn pretty_printed_records_with_tricky_strings_become_one_line_each() {
        let document =
            "\u{feff}[\n  {\"a\": \"x]}\\\"{[\",\n   \"b\": [1, {\"c\": 2}]},\n  {\"a\": \"line\\nbreak\"}\n]\n";
        let seen = blocks(document, 1 << 20).unwrap();
        assert_eq!(seen.len(), 1);
        let lines: Vec<&str> = seen[0].0.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in &lines {
            let _: serde_json::Value = serde_json::from_str(line).expect("each line is one whole record");
        }
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["a"], "x]}\"{[");
        assert_eq!(first["b"][1]["c"], 2);
    }

    #[test]
    fn small_blocks_hold_whole_records_and_know_their_first_record() {
        let records: Vec<String> = (1..=50).map(|i| format!("{{\"id\": {i}, \"name\": \"n{i}\"}}")).collect();
        let document = format!("[{}]", records.join(",\n"));
        let seen = blocks(&document, 64).unwrap();
        assert!(seen.len() > 5, "split into several blocks");
        let mut expected_first = 1;
        let mut ids = Vec::new();
        for (block, first) in &seen {
            assert_eq!(*first, expected_first);
            for line in block.lines() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                ids.push(value["id"].as_u64().unwrap());
            }
            expected_first += block.lines().count() as u64;
        }
        assert_eq!(ids, (1..=50).collect::<Vec<u64>>());
    }

    #[test]
    fn documents_that_are_not_arrays_of_records_are_named() {
        assert!(blocks("{\"a\": 1}", 100).unwrap_err().contains("an array"));
        assert!(blocks("[{\"a\": 1}, 7]", 100).unwrap_err().contains("element 2"));
        assert!(blocks("[{\"a\": 1}, {\"a\":", 100).unwrap_err().contains("after 1 complete records"));
        assert!(blocks("[{\"a\": 1}] x", 100).unwrap_err().contains("nothing after"));
        assert_eq!(blocks("[]", 100).unwrap(), Vec::<(String, u64)>::new());
        assert_eq!(blocks("", 100).unwrap(), Vec::<(String, u64)>::new());
    }
}
