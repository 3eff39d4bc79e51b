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
    ///
    /// Text that is all ASCII (most titles) is cut as [`Self::cut_into`]
    /// cuts it, into `buf`: 64 bytes at a time from a bit mask of its
    /// letters and digits, in AVX-512 registers where the processor has
    /// them.
    #[inline]
    pub fn for_each_token(&self, text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
        buf.clear();
        #[allow(unsafe_code)]
        // SAFETY: `ascii_cut_fast` appends only the bytes of an all-ASCII
        // text (and nothing for any other), so `buf` stays UTF-8, and every
        // token it passes on is ASCII.
        let ascii = self.ascii_cut_fast(text, unsafe { buf.as_mut_vec() }, &mut |token, _, _| {
            f(unsafe { std::str::from_utf8_unchecked(token) })
        });
        if !ascii {
            self.mixed_tokens(text, buf, |token, _, _| f(token));
        }
    }

    /// [`Self::for_each_token`] of text that is not all ASCII, read byte by
    /// byte and, past ASCII, character by character, passing each token
    /// with its range in `text`. A token of ASCII letters and digits that
    /// needs no lower-casing is passed straight from `text`, without a copy.
    fn mixed_tokens(&self, text: &str, buf: &mut String, mut f: impl FnMut(&str, usize, usize)) {
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
                    f(buf, start, i);
                } else if upper && self.lowercase {
                    buf.clear();
                    buf.extend(
                        bytes[start..i]
                            .iter()
                            .map(|c| c.to_ascii_lowercase() as char),
                    );
                    f(buf, start, i);
                } else {
                    f(&text[start..i], start, i);
                }
            } else if b < 0x80 {
                i += 1;
            } else {
                let c = text[i..].chars().next().unwrap_or(' ');
                if is_token_char(c) {
                    let start = i;
                    i = self.slow_token(text, i, buf);
                    f(buf, start, i);
                } else {
                    i += c.len_utf8();
                }
            }
        }
    }

    /// Cuts `text` into `out`, which it appends to, and calls `f` with
    /// each token and its range in `out`. All-ASCII text is appended whole,
    /// lower-cased in place, and its tokens are ranges of it (one copy per
    /// text, none per token); other text has its tokens appended one after
    /// another. `buf` is scratch space for the latter.
    #[inline]
    pub fn cut_into(
        &self,
        text: &str,
        out: &mut Vec<u8>,
        buf: &mut String,
        mut f: impl FnMut(&[u8], usize, usize),
    ) {
        if self.ascii_cut_fast(text, out, &mut f) {
            return;
        }
        self.mixed_tokens(text, buf, |token, _, _| {
            let start = out.len();
            out.extend_from_slice(token.as_bytes());
            f(token.as_bytes(), start, out.len());
        });
    }

    /// [`Self::cut_into`], calling `f` with each token and its range in
    /// `text` (what lies between two tokens is then `text`'s).
    pub fn cut_at(
        &self,
        text: &str,
        out: &mut Vec<u8>,
        buf: &mut String,
        mut f: impl FnMut(&[u8], usize, usize),
    ) {
        let base = out.len();
        if self.ascii_cut_fast(text, out, &mut |token, at, end| {
            f(token, at - base, end - base)
        }) {
            return;
        }
        self.mixed_tokens(text, buf, |token, at, end| f(token.as_bytes(), at, end));
    }

    /// [`Self::ascii_cut`] with AVX-512 where the processor has it.
    #[inline]
    fn ascii_cut_fast(
        &self,
        text: &str,
        out: &mut Vec<u8>,
        f: &mut impl FnMut(&[u8], usize, usize),
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx512bw_bmi2() {
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX-512BW and BMI2, checked
            // just above.
            return unsafe { ascii_cut_avx512(text.as_bytes(), self.lowercase, out, f) };
        }
        self.ascii_cut(text, out, f)
    }

    /// [`Self::cut_into`] of all-ASCII text, on any processor: appends it
    /// to `out`, lower-cased as configured, calls `f` with each token and
    /// its range, and returns true; else appends nothing and returns false.
    #[inline]
    fn ascii_cut(
        &self,
        text: &str,
        out: &mut Vec<u8>,
        mut f: impl FnMut(&[u8], usize, usize),
    ) -> bool {
        if !text.is_ascii() {
            return false;
        }
        let base = out.len();
        out.extend_from_slice(text.as_bytes());
        if self.lowercase {
            out[base..].make_ascii_lowercase();
        }
        let out = &out[..];
        ascii_tokens(&out[base..], |start, end| {
            f(&out[base + start..base + end], base + start, base + end)
        });
        true
    }

    /// Reads the token starting at byte `start` into `buf` (lower-cased as
    /// configured), character by character; returns where it ends.
    fn slow_token(&self, text: &str, start: usize, buf: &mut String) -> usize {
        buf.clear();
        for (at, c) in text[start..].char_indices() {
            if !is_token_char(c) {
                return start + at;
            }
            if self.lowercase {
                push_lowercase(c, buf);
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

/// Letters without case: CJK ideographs, hiragana, katakana and Hangul
/// syllables, the non-ASCII text most common in product titles.
const CASELESS: [std::ops::RangeInclusive<u32>; 4] = [
    0x4E00..=0x9FFF,
    0x3041..=0x3096,
    0x30A1..=0x30FA,
    0xAC00..=0xD7A3,
];

/// `c.is_alphanumeric()`, answered without Unicode's tables for the
/// scripts most titles use past ASCII, where searching the tables showed
/// in `embed`'s profile (docs/benchmarks.md, "embed over every title").
#[inline]
fn is_token_char(c: char) -> bool {
    let u = c as u32;
    match u {
        0xC0..=0xFF => u != 0xD7 && u != 0xF7,
        0x410..=0x44F => true,
        0x2000..=0x206F => false,
        _ if CASELESS.iter().any(|r| r.contains(&u)) => true,
        _ => c.is_alphanumeric(),
    }
}

/// Appends `c.to_lowercase()` to `buf`, without Unicode's tables for the
/// same scripts as [`is_token_char`].
#[inline]
fn push_lowercase(c: char, buf: &mut String) {
    let u = c as u32;
    let shifted = match u {
        0xC0..=0xDE if u != 0xD7 => char::from_u32(u + 0x20),
        0x410..=0x42F => char::from_u32(u + 0x20),
        0xDF..=0xFF | 0x430..=0x44F => Some(c),
        _ if CASELESS.iter().any(|r| r.contains(&u)) => Some(c),
        _ => None,
    };
    match shifted {
        Some(lower) => buf.push(lower),
        None => buf.extend(c.to_lowercase()),
    }
}

/// Calls `f` with the start and end of each maximal run of ASCII letters
/// and digits of `text`, in order.
#[inline(always)]
fn ascii_tokens(text: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut open: Option<usize> = None;
    for (block, chunk) in text.chunks(64).enumerate() {
        let inside = if chunk.len() == 64 {
            !0
        } else {
            (1u64 << chunk.len()) - 1
        };
        block_tokens(alnum_mask(chunk), inside, block * 64, &mut open, &mut f);
    }
    if let Some(start) = open {
        f(start, text.len());
    }
}

/// The tokens that end in one 64-byte block of text starting at byte
/// `base`: `alnum` marks its letters and digits, `inside` its bytes (all
/// 64 but in the last block). `open` is where a token still open at the
/// block's start began, and is left so for the next block.
#[inline(always)]
fn block_tokens(
    alnum: u64,
    inside: u64,
    base: usize,
    open: &mut Option<usize>,
    f: &mut impl FnMut(usize, usize),
) {
    let mut from = 0;
    loop {
        let above = !0u64 << from;
        match *open {
            Some(start) => {
                let ends = !alnum & inside & above;
                if ends == 0 {
                    break; // the token goes on into the next block
                }
                let end = ends.trailing_zeros() as usize;
                f(start, base + end);
                (*open, from) = (None, end);
            }
            None => {
                let starts = alnum & above;
                if starts == 0 {
                    break;
                }
                let start = starts.trailing_zeros() as usize;
                (*open, from) = (Some(base + start), start);
            }
        }
    }
}

/// [`Tokenizer::ascii_cut`] with AVX-512: each 64 bytes of text are read,
/// checked for ASCII, lower-cased, written to `out` and classified as
/// letters and digits in registers, where the portable path copies,
/// lower-cases and classifies in three passes (and copies the last,
/// partial block once more to classify it). The gain is measured in
/// docs/benchmarks.md ("embed over every title").
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,bmi2")]
#[allow(unsafe_code)]
fn ascii_cut_avx512(
    text: &[u8],
    lowercase: bool,
    out: &mut Vec<u8>,
    f: &mut impl FnMut(&[u8], usize, usize),
) -> bool {
    use std::arch::x86_64::*;
    let n = text.len();
    // Longer text is checked whole first, so that no token is passed on
    // before a later block turns out not to be ASCII; a single block is
    // checked in registers below.
    if n > 64 && !text.is_ascii() {
        return false;
    }
    let base = out.len();
    out.reserve(n);
    let mut open: Option<usize> = None;
    let mut at = 0;
    while at < n {
        let len = (n - at).min(64);
        let lanes = _bzhi_u64(!0, len as u32);
        // SAFETY: the load reads only the `len` bytes of `text` from `at`
        // that `lanes` selects (masked-off bytes are not accessed).
        let x = unsafe { _mm512_maskz_loadu_epi8(lanes, text.as_ptr().add(at).cast()) };
        if n <= 64 && _mm512_movepi8_mask(x) != 0 {
            return false;
        }
        let upper = _mm512_cmplt_epu8_mask(
            _mm512_sub_epi8(x, _mm512_set1_epi8(b'A' as i8)),
            _mm512_set1_epi8(26),
        );
        let folded = _mm512_mask_add_epi8(x, upper, x, _mm512_set1_epi8(0x20));
        let written = if lowercase { folded } else { x };
        // SAFETY: `reserve` made room for all `n` bytes after `base`, and
        // the store writes only the `len` bytes `lanes` selects.
        unsafe {
            _mm512_mask_storeu_epi8(out.as_mut_ptr().add(base + at).cast(), lanes, written);
            out.set_len(base + at + len);
        }
        let letter = _mm512_cmplt_epu8_mask(
            _mm512_sub_epi8(folded, _mm512_set1_epi8(b'a' as i8)),
            _mm512_set1_epi8(26),
        );
        let digit = _mm512_cmplt_epu8_mask(
            _mm512_sub_epi8(x, _mm512_set1_epi8(b'0' as i8)),
            _mm512_set1_epi8(10),
        );
        let appended = &out[base..];
        block_tokens(
            (letter | digit) & lanes,
            lanes,
            at,
            &mut open,
            &mut |s, e| f(&appended[s..e], base + s, base + e),
        );
        at += len;
    }
    if let Some(start) = open {
        f(&out[base + start..base + n], base + start, base + n);
    }
    true
}

/// Bit `i` is set when byte `i` of `chunk` (at most 64 bytes) is an ASCII
/// letter or digit.
#[inline(always)]
fn alnum_mask(chunk: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut block = [0u8; 64];
        let bytes: &[u8; 64] = match chunk.try_into() {
            Ok(full) => full,
            Err(_) => {
                block[..chunk.len()].copy_from_slice(chunk);
                &block
            }
        };
        let (lanes, _) = bytes.as_chunks::<16>();
        lanes.iter().enumerate().fold(0u64, |mask, (i, lane)| {
            mask | u64::from(alnum_mask16(lane)) << (16 * i)
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        chunk
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_alphanumeric())
            .fold(0u64, |mask, (i, _)| mask | 1 << i)
    }
}

/// [`alnum_mask`] of 16 bytes, with SSE2 (part of every x86-64).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn alnum_mask16(lane: &[u8; 16]) -> u16 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is in the x86-64 baseline; the load is unaligned-safe and
    // reads exactly the 16 bytes of `lane`.
    unsafe {
        let x = _mm_loadu_si128(lane.as_ptr().cast());
        // Setting bit 5 folds A-Z onto a-z and moves nothing else into it.
        let folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
        let letter = _mm_and_si128(
            _mm_cmpgt_epi8(folded, _mm_set1_epi8(b'a' as i8 - 1)),
            _mm_cmplt_epi8(folded, _mm_set1_epi8(b'z' as i8 + 1)),
        );
        let digit = _mm_and_si128(
            _mm_cmpgt_epi8(x, _mm_set1_epi8(b'0' as i8 - 1)),
            _mm_cmplt_epi8(x, _mm_set1_epi8(b'9' as i8 + 1)),
        );
        _mm_movemask_epi8(_mm_or_si128(letter, digit)) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64).
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// `len` ASCII characters: mostly letters and digits, so long tokens
    /// occur, with the bytes just outside their ranges (@ [ ` { / :), spaces
    /// and any ASCII byte between them.
    fn random_ascii(next: &mut impl FnMut() -> u64, len: usize) -> String {
        (0..len)
            .map(|_| match next() % 8 {
                0 => (next() % 128) as u8 as char,
                1 => ' ',
                _ => b"aZ9mQ0x@[`{/:"[(next() % 13) as usize] as char,
            })
            .collect()
    }

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

    /// The 64-byte mask path on generated ASCII text: tokens that cross
    /// block boundaries, texts of every length around them, every byte.
    #[test]
    fn ascii_blocks_match_a_byte_by_byte_reading() {
        fn reference(text: &str, lowercase: bool) -> Vec<String> {
            text.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|t| !t.is_empty())
                .map(|t| {
                    if lowercase {
                        t.to_ascii_lowercase()
                    } else {
                        t.to_string()
                    }
                })
                .collect()
        }
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for lowercase in [true, false] {
            let t = Tokenizer { lowercase };
            for len in (0..200).chain([255, 256, 257, 1000]) {
                for _ in 0..20 {
                    let text = random_ascii(&mut next, len);
                    assert_eq!(t.tokens(&text), reference(&text, lowercase), "{text:?}");
                }
            }
            let every: String = (0u8..128).map(char::from).collect();
            assert_eq!(t.tokens(&every), reference(&every, lowercase));
        }
    }

    /// `cut_into`'s AVX-512 path gives what the portable one gives: the
    /// same tokens at the same ranges, the same bytes appended after what
    /// the buffer held, and nothing at all for text that is not all ASCII
    /// (in one block or past the first). On a processor without AVX-512
    /// both are the portable path.
    #[test]
    fn ascii_cut_paths_agree() {
        type Cut = (bool, Vec<u8>, Vec<(Vec<u8>, usize, usize)>);
        fn run(t: &Tokenizer, text: &str, fast: bool) -> Cut {
            let (mut out, mut got) = (b"kept".to_vec(), Vec::new());
            let mut f = |tok: &[u8], s: usize, e: usize| got.push((tok.to_vec(), s, e));
            let ok = if fast {
                t.ascii_cut_fast(text, &mut out, &mut f)
            } else {
                t.ascii_cut(text, &mut out, &mut f)
            };
            (ok, out, got)
        }
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let (mut ascii, mut other) = (0, 0);
        for lowercase in [true, false] {
            let t = Tokenizer { lowercase };
            for len in (0..200).chain([255, 256, 257, 1000]) {
                for trial in 0..20 {
                    let mut text = random_ascii(&mut next, len);
                    if trial % 4 == 3 {
                        let at = (next() % (len as u64 + 1)) as usize;
                        text.insert(at, if trial % 8 == 3 { '\u{e9}' } else { '\u{6771}' });
                    }
                    let fast = run(&t, &text, true);
                    assert_eq!(fast, run(&t, &text, false), "{text:?}");
                    if fast.0 {
                        ascii += 1;
                    } else {
                        assert_eq!(fast.1, b"kept", "{text:?}");
                        other += 1;
                    }
                }
            }
        }
        assert!(ascii > 6000 && other > 1500, "{ascii} ASCII, {other} not");
    }

    /// The shortcuts past ASCII answer as Unicode's tables do, for every
    /// character.
    #[test]
    fn letter_shortcuts_agree_with_unicode() {
        let mut buf = String::new();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(is_token_char(c), c.is_alphanumeric(), "{c:?}");
            buf.clear();
            push_lowercase(c, &mut buf);
            assert_eq!(buf, c.to_lowercase().collect::<String>(), "{c:?}");
        }
    }

    /// `cut_into` gives the tokens `tokens` gives, at the ranges it says,
    /// for ASCII and other text appended to the same buffer.
    #[test]
    fn cut_into_ranges_hold_the_tokens() {
        let t = Tokenizer::default();
        let (mut out, mut buf) = (b"kept".to_vec(), String::new());
        let mut got = Vec::new();
        for text in ["Otterbox CASE, for iPhone-13", "", "Naïve CAFÉ 東京", "x"] {
            t.cut_into(text, &mut out, &mut buf, |token, start, end| {
                got.push((
                    String::from_utf8(token.to_vec()).expect("utf-8"),
                    start,
                    end,
                ))
            });
        }
        let want = [
            "otterbox", "case", "for", "iphone", "13", "naïve", "café", "東京", "x",
        ];
        assert_eq!(got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(), want);
        for (token, start, end) in &got {
            assert_eq!(&out[*start..*end], token.as_bytes());
        }
        assert_eq!(&out[..4], b"kept");
    }

    /// `cut_at` gives the same tokens at their ranges in the text itself,
    /// whatever the buffer already holds.
    #[test]
    fn cut_at_ranges_are_places_in_the_text() {
        let t = Tokenizer::default();
        let (mut out, mut buf) = (b"kept".to_vec(), String::new());
        for text in [
            "Otterbox CASE, for iPhone-13",
            "Naïve CAFÉ — 東京, Ünïcode",
            "x",
        ] {
            let mut got = Vec::new();
            t.cut_at(text, &mut out, &mut buf, |token, start, end| {
                let token = String::from_utf8(token.to_vec()).expect("utf-8");
                assert_eq!(text[start..end].to_lowercase(), token, "{text}");
                got.push(token);
            });
            assert_eq!(got, t.tokens(text));
        }
    }

    #[test]
    fn can_keep_case() {
        let t = Tokenizer { lowercase: false };
        assert_eq!(t.tokens("iPhone Pro"), vec!["iPhone", "Pro"]);
    }
}
