//! The word2vec C formats, as gensim's `save_word2vec_format` writes them
//! (and fastText's `.vec`): a header line `<words> <dim>`, then per word
//! either `word v1 v2 ...` as text, or `word ` and `dim` little-endian f32
//! (optionally followed by a newline) in the binary form.
//!
//! Reading is strict: a truncated or malformed file is an error naming the
//! file and the line (text) or byte offset (binary) where it broke, never a
//! partial model.

use datafusion::common::{DataFusionError, Result};

/// Which of the two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    Text,
    Binary,
}

impl VectorFormat {
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_lowercase().as_str() {
            "word2vec_text" | "text" | "vec" | "txt" => Ok(Self::Text),
            "word2vec_binary" | "binary" | "bin" => Ok(Self::Binary),
            other => Err(DataFusionError::Plan(format!(
                "unknown vector format '{other}' (formats: word2vec_text, word2vec_binary)"
            ))),
        }
    }

    /// Guesses the format of `bytes`: text when what follows the header
    /// is UTF-8 (float bytes almost never are, over 4 KiB).
    pub fn sniff(bytes: &[u8]) -> Self {
        let body = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| &bytes[i + 1..])
            .unwrap_or(&[]);
        match std::str::from_utf8(&body[..body.len().min(4096)]) {
            Ok(_) => Self::Text,
            // Cut in the middle of a character at the end of the sample.
            Err(e) if e.error_len().is_none() => Self::Text,
            Err(_) => Self::Binary,
        }
    }
}

/// Vectors read from a file: words in file order, `dim` floats each.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    pub words: Vec<String>,
    pub dim: usize,
    pub values: Vec<f32>,
}

fn error(file: &str, at: String, why: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{file}: {at}: {why}"))
}

fn header(file: &str, bytes: &[u8]) -> Result<(usize, usize, usize)> {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| error(file, "line 1".into(), "no header line '<words> <dim>'"))?;
    let line = std::str::from_utf8(&bytes[..end]).map_err(|e| error(file, "line 1".into(), e))?;
    let mut parts = line.split_whitespace();
    let parse = |p: Option<&str>, what: &str| -> Result<usize> {
        p.and_then(|s| s.parse().ok()).ok_or_else(|| {
            error(
                file,
                "line 1".into(),
                format!("expected '<words> <dim>', got '{line}' ({what})"),
            )
        })
    };
    let count = parse(parts.next(), "word count")?;
    let dim = parse(parts.next(), "dimension")?;
    if dim == 0 {
        return Err(error(file, "line 1".into(), "the dimension is 0"));
    }
    Ok((count, dim, end + 1))
}

/// Reads either format from `bytes` (the whole file).
pub fn read(file: &str, bytes: &[u8], format: VectorFormat) -> Result<Vectors> {
    let (count, dim, start) = header(file, bytes)?;
    match format {
        VectorFormat::Text => read_text(file, &bytes[start..], count, dim),
        VectorFormat::Binary => read_binary(file, bytes, start, count, dim),
    }
}

fn read_text(file: &str, body: &[u8], count: usize, dim: usize) -> Result<Vectors> {
    let text = std::str::from_utf8(body).map_err(|e| error(file, "after line 1".into(), e))?;
    let mut words = Vec::with_capacity(count);
    let mut values = Vec::with_capacity(count.saturating_mul(dim).min(1 << 28));
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 2;
        if line.trim().is_empty() {
            continue;
        }
        if words.len() == count {
            return Err(error(
                file,
                format!("line {line_no}"),
                format!("more than the {count} words the header announces"),
            ));
        }
        let mut parts = line.trim_end().split(' ');
        let word = parts.next().unwrap_or_default();
        let before = values.len();
        for p in parts {
            let v: f32 = p.parse().map_err(|_| {
                error(
                    file,
                    format!("line {line_no}"),
                    format!("'{p}' is not a number"),
                )
            })?;
            values.push(v);
        }
        if values.len() - before != dim {
            return Err(error(
                file,
                format!("line {line_no}"),
                format!(
                    "word '{word}' has {} values, the header says {dim}",
                    values.len() - before
                ),
            ));
        }
        words.push(word.to_string());
    }
    if words.len() != count {
        return Err(error(
            file,
            format!("line {}", text.lines().count() + 1),
            format!(
                "the file ends after {} of the {count} words the header announces",
                words.len()
            ),
        ));
    }
    Ok(Vectors { words, dim, values })
}

fn read_binary(
    file: &str,
    bytes: &[u8],
    start: usize,
    count: usize,
    dim: usize,
) -> Result<Vectors> {
    let mut words = Vec::with_capacity(count);
    let mut values = Vec::with_capacity(count.saturating_mul(dim).min(1 << 28));
    let mut at = start;
    for i in 0..count {
        while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
            at += 1;
        }
        let word_start = at;
        let space = bytes[at..].iter().position(|&b| b == b' ').ok_or_else(|| {
            error(
                file,
                format!("byte {at}"),
                format!("the file ends in word {} of {count}", i + 1),
            )
        })?;
        let word = std::str::from_utf8(&bytes[at..at + space]).map_err(|e| {
            error(
                file,
                format!("byte {word_start}"),
                format!("word {} is not UTF-8: {e}", i + 1),
            )
        })?;
        at += space + 1;
        let need = dim * 4;
        if bytes.len() - at < need {
            return Err(error(
                file,
                format!("byte {at}"),
                format!(
                    "the file ends in the vector of '{word}' (word {} of {count})",
                    i + 1
                ),
            ));
        }
        values.extend(
            bytes[at..at + need]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        at += need;
        words.push(word.to_string());
    }
    Ok(Vectors { words, dim, values })
}

/// Writes `words` with their vectors (`dim` floats each) in `format`.
pub fn write(words: &[String], dim: usize, values: &[f32], format: VectorFormat) -> Vec<u8> {
    let mut out = format!("{} {dim}\n", words.len()).into_bytes();
    for (word, v) in words.iter().zip(values.chunks(dim)) {
        out.extend_from_slice(word.as_bytes());
        match format {
            VectorFormat::Text => {
                for x in v {
                    out.push(b' ');
                    out.extend_from_slice(x.to_string().as_bytes());
                }
            }
            VectorFormat::Binary => {
                out.push(b' ');
                for x in v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vectors {
        Vectors {
            words: vec!["pizza".into(), "東京".into()],
            dim: 3,
            values: vec![0.5, -1.25, 3.0e-7, 0.0, 1.0, -2.5],
        }
    }

    #[test]
    fn round_trips_both_formats() {
        let v = sample();
        for format in [VectorFormat::Text, VectorFormat::Binary] {
            let bytes = write(&v.words, v.dim, &v.values, format);
            assert_eq!(VectorFormat::sniff(&bytes), format);
            assert_eq!(read("f", &bytes, format).expect("read"), v);
        }
    }

    #[test]
    fn broken_files_name_where() {
        let v = sample();
        let text = write(&v.words, v.dim, &v.values, VectorFormat::Text);
        let cut = &text[..text.len() - 6];
        let err = read("v.txt", cut, VectorFormat::Text)
            .expect_err("truncated")
            .to_string();
        assert!(err.contains("v.txt: line 3"), "{err}");
        let err = read("v.txt", b"2 3\na 1 2 x\n", VectorFormat::Text)
            .expect_err("bad")
            .to_string();
        assert!(err.contains("v.txt: line 2: 'x' is not a number"), "{err}");
        let err = read("v.txt", b"1 3\na 1 2\n", VectorFormat::Text)
            .expect_err("short")
            .to_string();
        assert!(
            err.contains("word 'a' has 2 values, the header says 3"),
            "{err}"
        );
        let err = read("v.txt", b"nonsense\n", VectorFormat::Text)
            .expect_err("header")
            .to_string();
        assert!(err.contains("v.txt: line 1"), "{err}");
        let bin = write(&v.words, v.dim, &v.values, VectorFormat::Binary);
        let err = read("v.bin", &bin[..bin.len() - 3], VectorFormat::Binary)
            .expect_err("cut")
            .to_string();
        assert!(err.contains("v.bin: byte"), "{err}");
        assert!(
            err.contains("the file ends in the vector of '東京'"),
            "{err}"
        );
    }
}
