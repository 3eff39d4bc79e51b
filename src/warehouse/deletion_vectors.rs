//! Deletion vectors of external Delta tables (#24): the rows of a data file
//! a writer deleted without rewriting the file, read as the Delta protocol
//! lays them out ("Deletion Vector Format"), and turned into the Parquet
//! row selection that skips them.
//!
//! A descriptor names its vector one of three ways: a file beside the data
//! (`u`: an optional folder prefix and a Z85-encoded UUID), an absolute
//! path (`p`), or the bytes inline in the log (`i`, Z85-encoded). A vector
//! in a file starts at `offset` with its size (4 bytes, big-endian), then
//! the magic number 1681511377 (little-endian), the 64-bit roaring bitmap
//! in its portable form, and a CRC-32 (big-endian) of the magic and bitmap.

use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use deltalake_core::kernel::{DeletionVectorDescriptor, StorageType};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

/// The magic number before a portable 64-bit roaring bitmap.
const MAGIC: u32 = 1_681_511_377;

fn bad(what: &str, why: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{what}: its deletion vector cannot be read: {why}"))
}

/// The rows (from 0, ascending) the vector `dv` deletes from a data file of
/// the table at `root` (its folder in `store`, whose URL is `root_url`).
/// `what` names the file in errors.
pub async fn deleted_rows(
    store: &dyn ObjectStore,
    root: &Path,
    root_url: &Url,
    dv: &DeletionVectorDescriptor,
    what: &str,
) -> Result<Vec<u64>> {
    let size = usize::try_from(dv.size_in_bytes).map_err(|e| bad(what, e))?;
    let bitmap = match dv.storage_type {
        StorageType::Inline => {
            let bytes = z85_decode(&dv.path_or_inline_dv).ok_or_else(|| bad(what, "bad Z85"))?;
            let magic = bytes.get(..4).ok_or_else(|| bad(what, "too short"))?;
            if u32::from_le_bytes(magic.try_into().expect("4 bytes")) != MAGIC {
                return Err(bad(what, "wrong magic number"));
            }
            bytes[4..].to_vec()
        }
        StorageType::UuidRelativePath | StorageType::AbsolutePath => {
            let location = match dv.storage_type {
                StorageType::AbsolutePath => {
                    let url = Url::parse(&dv.path_or_inline_dv).map_err(|e| bad(what, e))?;
                    if url.scheme() != root_url.scheme() || url.host() != root_url.host() {
                        return Err(bad(what, format!("{url} is in another store")));
                    }
                    Path::from_url_path(url.path()).map_err(|e| bad(what, e))?
                }
                _ => {
                    let mut location = root.clone();
                    for part in uuid_relative_path(&dv.path_or_inline_dv)
                        .ok_or_else(|| bad(what, "bad UUID path"))?
                        .split('/')
                    {
                        location = location.join(part);
                    }
                    location
                }
            };
            let start = usize::try_from(dv.offset.unwrap_or(1)).map_err(|e| bad(what, e))?;
            let end = start + 4 + size + 4;
            let bytes = store
                .get_range(&location, start as u64..end as u64)
                .await
                .map_err(|e| bad(what, format!("{location}: {e}")))?;
            if bytes.len() != end - start {
                return Err(bad(what, "the file is shorter than its descriptor says"));
            }
            let stored = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
            if stored != size {
                return Err(bad(
                    what,
                    format!("size {stored} in the file, {size} in the log"),
                ));
            }
            let body = &bytes[4..4 + size];
            let crc = u32::from_be_bytes(bytes[4 + size..].try_into().expect("4 bytes"));
            if crc32(body) != crc {
                return Err(bad(what, "its checksum does not match"));
            }
            if u32::from_le_bytes(body[..4].try_into().expect("4 bytes")) != MAGIC {
                return Err(bad(what, "wrong magic number"));
            }
            body[4..].to_vec()
        }
    };
    let rows = treemap(&bitmap).ok_or_else(|| bad(what, "a malformed bitmap"))?;
    if u64::try_from(dv.cardinality).ok() != Some(rows.len() as u64) {
        return Err(bad(
            what,
            format!("{} rows, but the log says {}", rows.len(), dv.cardinality),
        ));
    }
    Ok(rows)
}

/// The access plan of a file whose row groups hold `row_group_rows` rows
/// that skips `deleted` (ascending).
pub fn access_plan(
    deleted: &[u64],
    row_group_rows: &[usize],
    what: &str,
) -> Result<ParquetAccessPlan> {
    let total: u64 = row_group_rows.iter().map(|&n| n as u64).sum();
    if deleted.last().is_some_and(|&last| last >= total) {
        return Err(bad(
            what,
            format!("it deletes a row past the file's {total}"),
        ));
    }
    let mut selectors = Vec::new();
    let mut at = 0u64;
    for &row in deleted {
        if row > at {
            selectors.push(RowSelector::select((row - at) as usize));
        }
        selectors.push(RowSelector::skip(1));
        at = row + 1;
    }
    if total > at {
        selectors.push(RowSelector::select((total - at) as usize));
    }
    let selection = RowSelection::from(selectors);
    let mut plan = ParquetAccessPlan::new_all(row_group_rows.len());
    // One pass: each row group's share of the overall selection.
    let mut rest = selection;
    for (i, &rows) in row_group_rows.iter().enumerate() {
        let group = rest.split_off(rows);
        if !group.selects_any() {
            plan.skip(i);
        } else if group.row_count() < rows {
            plan.scan_selection(i, group);
        }
    }
    Ok(plan)
}

/// `<prefix>deletion_vector_<uuid>.bin`, from a `u` descriptor: the prefix
/// and then the UUID in 20 Z85 characters.
fn uuid_relative_path(encoded: &str) -> Option<String> {
    let split = encoded.len().checked_sub(20)?;
    let (prefix, uuid) = (encoded.get(..split)?, encoded.get(split..)?);
    let bytes = z85_decode(uuid)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    Some(if prefix.is_empty() {
        format!("deletion_vector_{uuid}.bin")
    } else {
        format!("{prefix}/deletion_vector_{uuid}.bin")
    })
}

/// Z85 (ZeroMQ's base 85): 5 characters for every 4 bytes.
fn z85_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(5) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 5 * 4);
    for chunk in bytes.chunks(5) {
        let mut value: u64 = 0;
        for &c in chunk {
            let digit = ALPHABET.iter().position(|&a| a == c)? as u64;
            value = value * 85 + digit;
        }
        out.extend_from_slice(&u32::try_from(value).ok()?.to_be_bytes());
    }
    Some(out)
}

/// CRC-32 (IEEE), as the vector's checksum uses.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A little-endian reader over a byte slice.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The values of a 64-bit roaring bitmap in its portable form: a count,
/// then for each 32-bit bitmap its high 32 bits and the bitmap. Ascending.
fn treemap(bytes: &[u8]) -> Option<Vec<u64>> {
    let mut r = Bytes(bytes);
    let maps = r.u64()?;
    let mut out = Vec::new();
    let mut previous: Option<u32> = None;
    for _ in 0..maps {
        let high = r.u32()?;
        if previous.is_some_and(|p| p >= high) {
            return None;
        }
        previous = Some(high);
        for low in bitmap32(&mut r)? {
            out.push(((high as u64) << 32) | low as u64);
        }
    }
    // Z85 encodes 4 bytes at a time: an inline vector may end in up to
    // three bytes of zero padding.
    if r.0.len() > 3 || r.0.iter().any(|&b| b != 0) {
        return None;
    }
    Some(out)
}

/// One 32-bit roaring bitmap in the portable form (array, bitmap and run
/// containers), read from `r`. Ascending.
fn bitmap32(r: &mut Bytes) -> Option<Vec<u32>> {
    const COOKIE_NO_RUNS: u32 = 12346;
    const COOKIE: u32 = 12347;
    let cookie = r.u32()?;
    let (count, runs) = if cookie == COOKIE_NO_RUNS {
        (r.u32()? as usize, Vec::new())
    } else if cookie & 0xFFFF == COOKIE {
        let count = (cookie >> 16) as usize + 1;
        (count, r.take(count.div_ceil(8))?.to_vec())
    } else {
        return None;
    };
    if count > 65536 {
        return None;
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let key = r.u16()?;
        let cardinality = r.u16()? as usize + 1;
        headers.push((key, cardinality));
    }
    // Offsets, present but not needed when reading in order.
    if cookie == COOKIE_NO_RUNS || count >= 4 {
        r.take(4 * count)?;
    }
    let mut out = Vec::new();
    for (i, &(key, cardinality)) in headers.iter().enumerate() {
        let high = (key as u32) << 16;
        let is_run = runs.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        if is_run {
            let n = r.u16()?;
            for _ in 0..n {
                let start = r.u16()? as u32;
                let length = r.u16()? as u32;
                if start + length > 0xFFFF {
                    return None;
                }
                out.extend((start..=start + length).map(|v| high | v));
            }
        } else if cardinality <= 4096 {
            for _ in 0..cardinality {
                out.push(high | r.u16()? as u32);
            }
        } else {
            let words = r.take(8192)?;
            for (w, word) in words.chunks(8).enumerate() {
                let word = u64::from_le_bytes(word.try_into().ok()?);
                for bit in 0..64 {
                    if word & (1 << bit) != 0 {
                        out.push(high | (w as u32 * 64 + bit));
                    }
                }
            }
        }
    }
    if out.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_and_uuid_paths() {
        // ZeroMQ's reference vector.
        assert_eq!(
            z85_decode("HelloWorld"),
            Some(vec![0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
        );
        assert_eq!(z85_decode("abc"), None);
        // The protocol's example: prefix "ab" and a UUID.
        let path = uuid_relative_path("ab^-aqEH.-t@S}K{vb[*k^").expect("a path");
        assert!(path.starts_with("ab/deletion_vector_"), "{path}");
        assert!(path.ends_with(".bin") && path.len() == "ab/deletion_vector_".len() + 36 + 4);
    }

    #[test]
    fn crc_is_ieee() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// A portable bitmap with an array, a run and a bitmap container.
    #[test]
    fn reads_every_container_kind() {
        let mut b = Vec::new();
        b.extend_from_slice(&1u64.to_le_bytes()); // one 32-bit map
        b.extend_from_slice(&0u32.to_le_bytes()); // high bits 0
        // Cookie with runs: 3 containers, the second a run container.
        b.extend_from_slice(&(12347u32 | (2 << 16)).to_le_bytes());
        b.push(0b010);
        for (key, card) in [(0u16, 3u16), (1, 5), (2, 5000)] {
            b.extend_from_slice(&key.to_le_bytes());
            b.extend_from_slice(&(card - 1).to_le_bytes());
        }
        for v in [1u16, 5, 9] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&1u16.to_le_bytes()); // one run
        b.extend_from_slice(&10u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes()); // 10..=14
        let mut words = [0u64; 1024];
        for v in 0..5000u32 {
            words[(v / 64) as usize] |= 1 << (v % 64);
        }
        for w in words {
            b.extend_from_slice(&w.to_le_bytes());
        }
        let values = treemap(&b).expect("parses");
        assert_eq!(&values[..8], &[1, 5, 9, 65546, 65547, 65548, 65549, 65550]);
        assert_eq!(values.len(), 3 + 5 + 5000);
        assert_eq!(values[8], 2 << 16);
        assert!(treemap(&b[..b.len() - 1]).is_none(), "a short bitmap");
        let mut padded = b.clone();
        padded.extend_from_slice(&[0, 0]);
        assert_eq!(treemap(&padded), Some(values), "Z85 padding");
        padded.push(1);
        assert!(treemap(&padded).is_none(), "trailing bytes");
    }

    #[test]
    fn plans_skip_the_deleted_rows() {
        let plan = access_plan(&[0, 1, 5, 10, 11, 12, 13, 14], &[5, 5, 5, 5], "f").expect("a plan");
        let groups = plan.inner();
        assert_eq!(groups.len(), 4);
        assert!(!plan.should_scan(2), "every row of group 2 is deleted");
        assert!(plan.should_scan(3));
        let selected: usize = (0..4)
            .map(|i| match &groups[i] {
                datafusion::datasource::physical_plan::parquet::RowGroupAccess::Skip => 0,
                datafusion::datasource::physical_plan::parquet::RowGroupAccess::Scan => 5,
                datafusion::datasource::physical_plan::parquet::RowGroupAccess::Selection(s) => {
                    s.row_count()
                }
            })
            .sum();
        assert_eq!(selected, 20 - 8);
        assert!(access_plan(&[20], &[5, 5, 5, 5], "f").is_err());
    }
}
