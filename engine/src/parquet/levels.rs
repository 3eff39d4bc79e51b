//! Parquet's RLE/bit-packed hybrid streams (definition and repetition
//! levels, dictionary indices), read without decoding them into buffers:
//! runs cut to the values wanted, whether every level equals one value, and
//! where lists start. Every function returns `None` on a stream that ends
//! early or contradicts itself; the caller falls back to arrow-rs.

pub(super) fn uvarint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A run of an RLE/bit-packed hybrid stream (Parquet's levels and
/// dictionary indices), cut to the values wanted.
#[derive(Clone, Copy)]
pub(super) enum Run<'a> {
    /// `count` copies of a value.
    Repeat(u32, usize),
    /// `count` values bit-packed in these bytes, least significant bit
    /// first (groups of 8; the last group may hold padding past `count`).
    Packed(&'a [u8], usize),
}

impl Run<'_> {
    /// The values the run holds.
    fn count(self) -> usize {
        match self {
            Run::Repeat(_, count) | Run::Packed(_, count) => count,
        }
    }
}

/// Calls `f` with the runs holding the first `n` values of a hybrid stream
/// of `width`-bit values, until `f` says stop (`Some(false)`, returned) or
/// finds the data wrong (`None`, returned). `None` too if the stream ends
/// before `n` values or holds an empty run.
pub(super) fn for_runs(
    b: &[u8],
    n: usize,
    width: u32,
    mut f: impl FnMut(Run) -> Option<bool>,
) -> Option<bool> {
    let (mut pos, mut done) = (0, 0);
    while done < n {
        let header = uvarint(b, &mut pos)?;
        // Every size comes from the stream: checked, and bounded by the
        // stream's length before anything is sliced.
        let half = usize::try_from(header >> 1).ok()?;
        let run = if header & 1 == 0 {
            let count = half.min(n - done);
            let bytes = width.div_ceil(8) as usize;
            let mut value = [0u8; 4];
            value
                .get_mut(..bytes)?
                .copy_from_slice(b.get(pos..pos.checked_add(bytes)?)?);
            pos += bytes;
            Run::Repeat(u32::from_le_bytes(value), count)
        } else {
            let len = half.checked_mul(width as usize)?;
            let bytes = b.get(pos..pos.checked_add(len)?)?;
            pos += len;
            Run::Packed(bytes, half.saturating_mul(8).min(n - done))
        };
        if run.count() == 0 {
            return None;
        }
        if !f(run)? {
            return Some(false);
        }
        done += run.count();
    }
    Some(true)
}

/// The `i`-th value of a bit-packed run (least significant bit first) of
/// `width` bits (at most 32).
pub(super) fn unpack(bytes: &[u8], width: u32, i: usize) -> u32 {
    let bit = i * width as usize;
    let mut word = 0u64;
    // [`for_runs`] cuts a run's count to the values its bytes hold, so the
    // start is in range; past the end reads as zero bits, never a panic.
    let from = bytes.get(bit / 8..).unwrap_or_default();
    for (k, b) in from.iter().take(5).enumerate() {
        word |= u64::from(*b) << (8 * k);
    }
    ((word >> (bit % 8)) & ((1u64 << width) - 1)) as u32
}

/// Whether the first `n` levels of a hybrid-encoded stream of `width`
/// bits all equal `level`; `None` if the stream ends first.
pub(super) fn all_levels_are(b: &[u8], n: usize, width: u32, level: u8) -> Option<bool> {
    let w = width as usize;
    // Eight copies of `level`, packed: the bytes of one full group.
    let mut packed = 0u64;
    for k in 0..8 {
        packed |= u64::from(level) << (k * w);
    }
    let pattern = &packed.to_le_bytes()[..w];
    let level = u32::from(level);
    for_runs(b, n, width, |run| {
        Some(match run {
            Run::Repeat(value, _) => value == level,
            Run::Packed(bytes, count) => {
                // Whole groups by their bytes, the rest value by value.
                let full = count / 8;
                bytes[..full * w].chunks_exact(w).all(|g| g == pattern)
                    && (full * 8..count).all(|k| unpack(bytes, width, k) == level)
            }
        })
    })
}

/// Adds to `out` the value index of every list start (a 0) among the first
/// `n` repetition levels (1 bit each) of a hybrid-encoded stream, counting
/// from `base`; `None` if the stream ends first, holds a level above 1, or
/// would take `out` past `limit` starts (a run of a billion starts is a few
/// bytes of a hostile page, and `out` holds a word for each).
pub(super) fn list_starts(
    b: &[u8],
    n: usize,
    base: usize,
    limit: usize,
    out: &mut Vec<usize>,
) -> Option<()> {
    let mut at = base;
    for_runs(b, n, 1, |run| {
        match run {
            Run::Repeat(0, count) if out.len().checked_add(count)? > limit => return None,
            Run::Repeat(0, count) => out.extend(at..at + count),
            Run::Repeat(1, _) => {}
            Run::Repeat(..) => return None,
            Run::Packed(bytes, count) => {
                // The zero bits, eight bytes at a time.
                for (w, word) in bytes.chunks(8).enumerate() {
                    let mut eight = [0u8; 8];
                    eight[..word.len()].copy_from_slice(word);
                    let mut zeros = !u64::from_le_bytes(eight);
                    while zeros != 0 {
                        let k = w * 64 + zeros.trailing_zeros() as usize;
                        if k >= count {
                            break;
                        }
                        if out.len() >= limit {
                            return None;
                        }
                        out.push(at + k);
                        zeros &= zeros - 1;
                    }
                }
            }
        }
        at += run.count();
        Some(true)
    })
    .map(|_| ())
}
