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
    /// reused across calls.
    #[inline]
    pub fn for_each_token(&self, text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
        buf.clear();
        for c in text.chars() {
            if c.is_ascii() {
                if c.is_ascii_alphanumeric() {
                    buf.push(if self.lowercase {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    });
                    continue;
                }
            } else if c.is_alphanumeric() {
                if self.lowercase {
                    buf.extend(c.to_lowercase());
                } else {
                    buf.push(c);
                }
                continue;
            }
            if !buf.is_empty() {
                f(buf);
                buf.clear();
            }
        }
        if !buf.is_empty() {
            f(buf);
            buf.clear();
        }
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

    #[test]
    fn can_keep_case() {
        let t = Tokenizer { lowercase: false };
        assert_eq!(t.tokens("iPhone Pro"), vec!["iPhone", "Pro"]);
    }
}
