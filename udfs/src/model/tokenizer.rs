//! The one tokenizer of a text model: training, `embed` and `tag` all cut
//! text with it, and its settings are stored in the model's manifest so that
//! every later use of the model cuts text alike.
//!
//! A token is a maximal run of letters and digits (Unicode-aware, so
//! "naïve café" and "東京" tokenize), lower-cased. Everything else separates
//! tokens. Tokens are produced into a reused buffer: no allocation per token.

use serde::{Deserialize, Serialize};

/// Tokenizer settings, as stored in a model manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokenizer {
    /// Lower-case tokens (default true).
    pub lowercase: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self { lowercase: true }
    }
}

impl Tokenizer {
    /// Calls `f` with each token of `text`, in order. `buf` is scratch space
    /// reused across calls. A token of ASCII letters and digits that needs
    /// no lower-casing is passed straight from `text`, without a copy.
    #[inline]
    pub fn for_each_token(&self, text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_alphanumeric() {
                let start = i;
                let mut upper = false;
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    upper |= bytes[i].is_ascii_uppercase();
                    i += 1;
                }
                if i < bytes.len() && bytes[i] >= 0x80 {
                    // The token may go on in non-ASCII letters.
                    i = self.slow_token(text, start, buf);
                    f(buf);
                } else if upper && self.lowercase {
                    buf.clear();
                    buf.extend(
                        bytes[start..i]
                            .iter()
                            .map(|c| c.to_ascii_lowercase() as char),
                    );
                    f(buf);
                } else {
                    f(&text[start..i]);
                }
            } else if b < 0x80 {
                i += 1;
            } else {
                let c = text[i..].chars().next().unwrap_or(' ');
                if c.is_alphanumeric() {
                    i = self.slow_token(text, i, buf);
                    f(buf);
                } else {
                    i += c.len_utf8();
                }
            }
        }
    }

    /// Reads the token starting at byte `start` into `buf` (lower-cased as
    /// configured), character by character; returns where it ends.
    fn slow_token(&self, text: &str, start: usize, buf: &mut String) -> usize {
        buf.clear();
        for (at, c) in text[start..].char_indices() {
            if !c.is_alphanumeric() {
                return start + at;
            }
            if self.lowercase {
                buf.extend(c.to_lowercase());
            } else {
                buf.push(c);
            }
        }
        text.len()
    }

    /// The tokens of `text` as owned strings (for tests and small inputs).
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = String::new();
        self.for_each_token(text, &mut buf, |t| out.push(t.to_string()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_non_alphanumerics_and_lowercases() {
        let t = Tokenizer::default();
        assert_eq!(
            t.tokens("Otterbox case, for Apple iPhone-13 (pink)!"),
            vec!["otterbox", "case", "for", "apple", "iphone", "13", "pink"]
        );
        assert_eq!(
            t.tokens("  Naïve CAFÉ — 東京タワー 2024 "),
            vec!["naïve", "café", "東京タワー", "2024"]
        );
        assert!(t.tokens("").is_empty());
        assert!(t.tokens(" ,.;- ").is_empty());
    }

    /// The fast path gives what a plain character-by-character reading gives.
    #[test]
    fn fast_path_matches_the_definition() {
        fn reference(text: &str) -> Vec<String> {
            let mut out = vec![String::new()];
            for c in text.chars() {
                if c.is_alphanumeric() {
                    out.last_mut().expect("one").extend(c.to_lowercase());
                } else if !out.last().expect("one").is_empty() {
                    out.push(String::new());
                }
            }
            out.retain(|t| !t.is_empty());
            out
        }
        let t = Tokenizer::default();
        for text in [
            "Plain lower words",
            "MiXeD CaSe 42x",
            "café au lait",
            "naïveTÉ-Über_alles",
            "ÉTÉ",
            "東京タワーTokyo!",
            "a\u{2003}b\u{00A0}c",
            "ﬁne ǅemal İstanbul",
            "x1y2Z3 -- 9",
            "",
            "   ",
            "trailingÅ",
        ] {
            assert_eq!(t.tokens(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn can_keep_case() {
        let t = Tokenizer { lowercase: false };
        assert_eq!(t.tokens("iPhone Pro"), vec!["iPhone", "Pro"]);
    }
}
