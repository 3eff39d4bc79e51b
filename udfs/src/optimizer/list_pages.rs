//! Lists of floats decoded straight from Parquet pages.
//!
//! A column of embeddings is a Parquet list of floats: per value a
//! repetition level (0 where a list starts), a definition level, and the
//! value. arrow-rs decodes both level streams into `i16` buffers, then
//! builds the list offsets and two validity bitmaps from them, level by
//! level; for 1M vectors of 100 floats that costs more than decompressing
//! the pages (see docs/benchmarks.md, top-k by cosine similarity).
//!
//! Such a column nearly always holds no NULL list, no empty list and no
//! NULL element: every definition level is the maximum. [`decode_lists`]
//! checks that on the encoded levels (a run of the maximum, or bit-packed
//! groups compared with the maximum's bit pattern), takes the list starts
//! from the zero bits of the repetition levels, and keeps each page's
//! PLAIN values as they came out of the decompressor, without a copy. A
//! chunk it cannot take that way (a dictionary, another encoding, a NULL
//! or an empty list) is [`Decoded::Unsupported`], and the caller reads it
//! with arrow-rs; only a chunk that contradicts itself is an error.

use std::mem::size_of;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use datafusion::arrow::array::{
    ArrayRef, FixedSizeListArray, GenericListArray, OffsetSizeTrait, PrimitiveArray,
};
use datafusion::arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, FieldRef, Float32Type, Float64Type,
};
use datafusion::common::{Result, exec_err};
use datafusion::parquet::basic::{Encoding, Type as PhysicalType};
use datafusion::parquet::column::page::{Page, PageReader};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ColumnChunkMetaData;
use datafusion::parquet::file::reader::{ChunkReader, Length};
use datafusion::parquet::schema::types::ColumnDescriptor;

/// The element type of a list column this module decodes, if it is one:
/// `List`, `LargeList` or `FixedSizeList` of `Float32` or `Float64`.
pub(crate) fn float_list_item(data_type: &DataType) -> Option<&DataType> {
    let item = match data_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f,
        _ => return None,
    };
    matches!(item.data_type(), DataType::Float32 | DataType::Float64).then(|| item.data_type())
}

/// Whether a column chunk's footer allows [`decode_lists`]: one level of
/// repetition, float values of the expected width, PLAIN values with RLE
/// levels and no dictionary. (The pages are checked again as they come.)
pub(crate) fn chunk_qualifies(column: &ColumnChunkMetaData, item: &DataType) -> bool {
    let descr = column.column_descr();
    let physical = match item {
        DataType::Float32 => PhysicalType::FLOAT,
        DataType::Float64 => PhysicalType::DOUBLE,
        _ => return false,
    };
    descr.physical_type() == physical
        && descr.max_rep_level() == 1
        && descr.max_def_level() >= 1
        && column.dictionary_page_offset().is_none()
        && column
            .encodings()
            .all(|e| matches!(e, Encoding::PLAIN | Encoding::RLE))
}

/// A row group's list column: where each list starts, and the values page
/// by page.
#[derive(Debug)]
pub(crate) struct ListChunk {
    /// The index of each list's first value, one per row.
    starts: Vec<usize>,
    /// Each page's values: (index of its first value, the values' bytes).
    pages: Vec<(usize, Buffer)>,
    /// All values.
    values: usize,
    width: usize,
}

/// What [`decode_lists`] made of a column chunk.
#[derive(Debug)]
pub(crate) enum Decoded {
    Lists(ListChunk),
    /// Valid Parquet this module does not take: read it with arrow-rs.
    Unsupported,
}

/// Decodes the pages of one row group's list column (see the module docs).
/// `rows` is the row group's row count, which the lists must match.
pub(crate) fn decode_lists(
    pages: &mut dyn PageReader,
    descr: &ColumnDescriptor,
    rows: usize,
) -> Result<Decoded> {
    let width = match descr.physical_type() {
        PhysicalType::FLOAT => 4,
        PhysicalType::DOUBLE => 8,
        _ => return Ok(Decoded::Unsupported),
    };
    let max_def = descr.max_def_level();
    if descr.max_rep_level() != 1 || !(1..=255).contains(&max_def) {
        return Ok(Decoded::Unsupported);
    }
    let max_def = max_def as u8;
    let def_width = 8 - max_def.leading_zeros();
    let corrupt = |what: &str| {
        exec_err!(
            "Parquet column {} is corrupt: {what}",
            descr.path().string()
        )
    };
    let mut chunk = ListChunk {
        starts: Vec::with_capacity(rows),
        pages: Vec::new(),
        values: 0,
        width,
    };
    while let Some(page) = pages.get_next_page()? {
        // (page bytes, repetition levels, definition levels, values at, count)
        let (buf, rep, def, at, n) = match page {
            Page::DictionaryPage { .. } => return Ok(Decoded::Unsupported),
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                rep_level_encoding,
                ..
            } => {
                if encoding != Encoding::PLAIN {
                    return Ok(Decoded::Unsupported);
                }
                if def_level_encoding != Encoding::RLE || rep_level_encoding != Encoding::RLE {
                    return Ok(Decoded::Unsupported);
                }
                let Some(rep) = prefixed(&buf, 0) else {
                    return corrupt("repetition levels overrun the page");
                };
                let Some(def) = prefixed(&buf, rep.end) else {
                    return corrupt("definition levels overrun the page");
                };
                let at = def.end;
                (buf, rep, def, at, num_values as usize)
            }
            Page::DataPageV2 {
                buf,
                num_values,
                encoding,
                num_nulls,
                def_levels_byte_len,
                rep_levels_byte_len,
                ..
            } => {
                if encoding != Encoding::PLAIN {
                    return Ok(Decoded::Unsupported);
                }
                if num_nulls != 0 {
                    return Ok(Decoded::Unsupported);
                }
                let rep = 0..rep_levels_byte_len as usize;
                let def = rep.end..rep.end + def_levels_byte_len as usize;
                if def.end > buf.len() {
                    return corrupt("levels overrun the page");
                }
                let at = def.end;
                (buf, rep, def, at, num_values as usize)
            }
        };
        match all_levels_are(&buf[def], n, def_width, max_def) {
            None => return corrupt("definition levels end early"),
            Some(false) => return Ok(Decoded::Unsupported),
            Some(true) => {}
        }
        let before = chunk.starts.len();
        if list_starts(&buf[rep], n, chunk.values, &mut chunk.starts).is_none() {
            return corrupt("repetition levels end early or exceed 1");
        }
        if chunk.values == 0 && n > 0 && chunk.starts.first() != Some(&0) {
            return corrupt("the first value does not start a list");
        }
        if chunk.starts.len() - before > rows {
            return corrupt("more lists than the row group has rows");
        }
        let bytes = n * width;
        if buf.len() < at + bytes {
            return corrupt("values end early");
        }
        chunk
            .pages
            .push((chunk.values, aligned(buf, at, bytes, width)));
        chunk.values += n;
    }
    if chunk.starts.len() != rows {
        return exec_err!(
            "Parquet column {} is corrupt: {} lists in a row group of {rows} rows",
            descr.path().string(),
            chunk.starts.len()
        );
    }
    Ok(Decoded::Lists(chunk))
}

impl ListChunk {
    /// Rows `rows` as an array of `data_type` (a list type accepted by
    /// [`float_list_item`], whose width matches the chunk's).
    pub(crate) fn take(&self, rows: Range<usize>, data_type: &DataType) -> Result<ArrayRef> {
        let first = self.starts[rows.start];
        let end = self.starts.get(rows.end).copied().unwrap_or(self.values);
        let values = self.values_between(first, end);
        let starts = &self.starts[rows.clone()];
        Ok(match data_type {
            DataType::List(item) => Arc::new(list::<i32>(item, starts, first, end, values)?),
            DataType::LargeList(item) => Arc::new(list::<i64>(item, starts, first, end, values)?),
            DataType::FixedSizeList(item, size) => {
                let size = *size as usize;
                let fixed = starts
                    .iter()
                    .enumerate()
                    .all(|(i, &s)| s == first + i * size)
                    && end - first == starts.len() * size;
                if !fixed {
                    return exec_err!(
                        "a list in a FixedSizeList({size}) column has another length"
                    );
                }
                Arc::new(FixedSizeListArray::try_new(
                    Arc::clone(item),
                    size as i32,
                    floats(item.data_type(), values, end - first)?,
                    None,
                )?)
            }
            other => return exec_err!("not a list of floats: {other}"),
        })
    }

    /// The bytes of values `first..end`: a slice of one page's buffer, or
    /// a copy where the range crosses pages.
    fn values_between(&self, first: usize, end: usize) -> Buffer {
        let page = self.pages.partition_point(|(start, _)| *start <= first) - 1;
        let (start, buffer) = &self.pages[page];
        let in_page = buffer.len() / self.width;
        if end <= start + in_page || first == end {
            return buffer
                .slice_with_length((first - start) * self.width, (end - first) * self.width);
        }
        let mut out = Vec::with_capacity((end - first) * self.width);
        for (start, buffer) in &self.pages[page..] {
            let len = buffer.len() / self.width;
            if *start >= end {
                break;
            }
            let (from, to) = (first.max(*start) - start, end.min(start + len) - start);
            out.extend_from_slice(&buffer.as_slice()[from * self.width..to * self.width]);
        }
        Buffer::from_vec(out)
    }
}

fn list<O: OffsetSizeTrait>(
    item: &FieldRef,
    starts: &[usize],
    first: usize,
    end: usize,
    values: Buffer,
) -> Result<GenericListArray<O>> {
    let offsets = starts
        .iter()
        .map(|&s| s - first)
        .chain([end - first])
        .map(|o| {
            O::from_usize(o).ok_or_else(|| ParquetError::General("list offset overflow".into()))
        })
        .collect::<std::result::Result<Vec<O>, _>>()?;
    Ok(GenericListArray::try_new(
        Arc::clone(item),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        floats(item.data_type(), values, end - first)?,
        None,
    )?)
}

fn floats(item: &DataType, values: Buffer, len: usize) -> Result<ArrayRef> {
    fn make<T: ArrowPrimitiveType>(values: Buffer, len: usize) -> ArrayRef {
        Arc::new(PrimitiveArray::<T>::new(
            ScalarBuffer::new(values, 0, len),
            None,
        ))
    }
    match item {
        DataType::Float32 if values.len() == len * size_of::<f32>() => {
            Ok(make::<Float32Type>(values, len))
        }
        DataType::Float64 if values.len() == len * size_of::<f64>() => {
            Ok(make::<Float64Type>(values, len))
        }
        other => exec_err!(
            "list values of {} bytes are not {len} of {other}",
            values.len()
        ),
    }
}

/// `bytes` bytes of `buf` from `at`, as a buffer aligned for values of
/// `width` bytes: the page's own memory where it is aligned or can be
/// shifted into alignment in place, else a copy.
fn aligned(buf: Bytes, at: usize, bytes: usize, width: usize) -> Buffer {
    let misaligned = (buf.as_ptr() as usize + at) % width;
    if misaligned == 0 {
        return Buffer::from(buf).slice_with_length(at, bytes);
    }
    match buf.try_into_mut() {
        // The levels before `at` have been read: move the values down over
        // their last bytes.
        Ok(mut own) if at >= misaligned => {
            let to = at - misaligned;
            own.copy_within(at..at + bytes, to);
            Buffer::from(own.freeze()).slice_with_length(to, bytes)
        }
        Ok(own) => Buffer::from_vec(own[at..at + bytes].to_vec()),
        Err(shared) => Buffer::from_vec(shared[at..at + bytes].to_vec()),
    }
}

/// The range of a v1 page's level block at `from`: a 4-byte length, then
/// the RLE/bit-packed hybrid bytes.
fn prefixed(buf: &[u8], from: usize) -> Option<Range<usize>> {
    let len = u32::from_le_bytes(buf.get(from..from + 4)?.try_into().ok()?) as usize;
    let start = from + 4;
    (start + len <= buf.len()).then_some(start..start + len)
}

fn uvarint(b: &[u8], pos: &mut usize) -> Option<u64> {
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

/// The `i`-th value of a bit-packed group run (LSB first) of `width` bits.
fn unpack(bytes: &[u8], width: u32, i: usize) -> u8 {
    let bit = i * width as usize;
    let mut word = 0u32;
    for (k, b) in bytes[bit / 8..].iter().take(3).enumerate() {
        word |= u32::from(*b) << (8 * k);
    }
    ((word >> (bit % 8)) & ((1 << width) - 1)) as u8
}

/// Whether the first `n` levels of a hybrid-encoded stream of `width`
/// bits all equal `level`; `None` if the stream ends first.
fn all_levels_are(b: &[u8], n: usize, width: u32, level: u8) -> Option<bool> {
    let w = width as usize;
    // Eight copies of `level`, packed: the bytes of one full group.
    let mut packed = 0u64;
    for k in 0..8 {
        packed |= u64::from(level) << (k * w);
    }
    let pattern = &packed.to_le_bytes()[..w];
    let (mut pos, mut i) = (0, 0);
    while i < n {
        let header = uvarint(b, &mut pos)?;
        if header & 1 == 0 {
            let count = (header >> 1) as usize;
            let value = *b.get(pos)?;
            pos += w.div_ceil(8);
            if count == 0 {
                return None;
            }
            if value != level {
                return Some(false);
            }
            i += count;
        } else {
            let groups = (header >> 1) as usize;
            let run = b.get(pos..pos + groups * w)?;
            pos += groups * w;
            let full = groups.min((n - i) / 8);
            if !run[..full * w].chunks_exact(w).all(|g| g == pattern) {
                return Some(false);
            }
            let tail = (n - i - full * 8).min((groups - full) * 8);
            if (0..tail).any(|k| unpack(&run[full * w..], width, k) != level) {
                return Some(false);
            }
            if groups == 0 {
                return None;
            }
            i += groups * 8;
        }
    }
    Some(true)
}

/// Adds to `out` the value index of every list start (a 0) among the first
/// `n` repetition levels (1 bit each) of a hybrid-encoded stream, counting
/// from `base`; `None` if the stream ends first or holds a level above 1.
fn list_starts(b: &[u8], n: usize, base: usize, out: &mut Vec<usize>) -> Option<()> {
    let (mut pos, mut i) = (0, 0);
    while i < n {
        let header = uvarint(b, &mut pos)?;
        if header & 1 == 0 {
            let count = ((header >> 1) as usize).min(n - i);
            let value = *b.get(pos)?;
            pos += 1;
            match value {
                0 => out.extend(base + i..base + i + count),
                1 => {}
                _ => return None,
            }
            if count == 0 {
                return None;
            }
            i += count;
        } else {
            let groups = (header >> 1) as usize;
            let run = b.get(pos..pos + groups)?;
            pos += groups;
            if groups == 0 {
                return None;
            }
            let mut at = i;
            for word in run.chunks(8) {
                let mut eight = [0u8; 8];
                eight[..word.len()].copy_from_slice(word);
                let mut zeros = !u64::from_le_bytes(eight);
                if word.len() < 8 {
                    zeros &= (1u64 << (word.len() * 8)) - 1;
                }
                while zeros != 0 {
                    let k = at + zeros.trailing_zeros() as usize;
                    if k >= n {
                        break;
                    }
                    out.push(base + k);
                    zeros &= zeros - 1;
                }
                at += word.len() * 8;
            }
            i += groups * 8;
        }
    }
    Some(())
}

/// The byte ranges of a file a scan fetched, as a [`ChunkReader`] that
/// serves reads at file offsets (for arrow-rs and the page reader).
#[derive(Clone)]
pub(crate) struct Fetched {
    ranges: Vec<(u64, Bytes)>,
    file_size: u64,
}

impl Fetched {
    pub(crate) fn new(
        starts: impl IntoIterator<Item = u64>,
        bytes: Vec<Bytes>,
        file_size: u64,
    ) -> Self {
        let mut ranges: Vec<(u64, Bytes)> = starts.into_iter().zip(bytes).collect();
        ranges.sort_by_key(|(s, _)| *s);
        Self { ranges, file_size }
    }

    fn slice(&self, start: u64, len: Option<usize>) -> Result<Bytes, ParquetError> {
        let i = self.ranges.partition_point(|(s, _)| *s <= start);
        if let Some((s, bytes)) = i.checked_sub(1).map(|i| &self.ranges[i]) {
            let from = (start - s) as usize;
            let to = len.map_or(bytes.len(), |l| from + l);
            if to <= bytes.len() {
                return Ok(bytes.slice(from..to));
            }
        }
        Err(ParquetError::General(format!(
            "bytes {start}..+{len:?} were not fetched"
        )))
    }
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.file_size
    }
}

impl ChunkReader for Fetched {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.slice(start, Some(length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Float32Builder, Float64Builder, RecordBatch};
    use datafusion::arrow::array::{FixedSizeListBuilder, LargeListBuilder, ListBuilder};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::{WriterProperties, WriterVersion};
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use datafusion::parquet::file::serialized_reader::SerializedPageReader;

    /// 1,000 rows of three list columns: `fixed` (3 floats), `varying` (0
    /// to 4 doubles; empty lists only if `empties`) and `large` (2 floats,
    /// a NULL list every 100th row if `nulls`).
    fn batch(empties: bool, nulls: bool) -> RecordBatch {
        let mut fixed = FixedSizeListBuilder::new(Float32Builder::new(), 3);
        let mut varying = ListBuilder::new(Float64Builder::new());
        let mut large = LargeListBuilder::new(Float32Builder::new());
        for i in 0..1000u32 {
            let x = i as f32;
            fixed.values().append_slice(&[x, -x, x * 0.5]);
            fixed.append(true);
            let n = if empties { i % 5 } else { 1 + i % 4 };
            for k in 0..n {
                varying.values().append_value(f64::from(i * 10 + k) / 3.0);
            }
            varying.append(true);
            if nulls && i % 100 == 7 {
                large.append(false);
            } else {
                large.values().append_slice(&[x, x + 0.25]);
                large.append(true);
            }
        }
        let (fixed, varying, large) = (fixed.finish(), varying.finish(), large.finish());
        let schema = Schema::new(vec![
            Field::new("fixed", fixed.data_type().clone(), false),
            Field::new("varying", varying.data_type().clone(), false),
            Field::new("large", large.data_type().clone(), true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(fixed), Arc::new(varying), Arc::new(large)],
        )
        .expect("test data")
    }

    fn write(batch: &RecordBatch, props: WriterProperties) -> Bytes {
        let mut out = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("test data");
        writer.write(batch).expect("test data");
        writer.close().expect("test data");
        Bytes::from(out)
    }

    /// Decodes every list column of every row group directly and compares
    /// slices of it (crossing page boundaries) with arrow-rs's reading.
    /// Returns how many chunks were decoded directly.
    fn compare(file: Bytes) -> usize {
        let reader = SerializedFileReader::new(file.clone()).expect("test data");
        let arrow: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file.clone())
            .expect("test data")
            .with_batch_size(100_000)
            .build()
            .expect("test data")
            .collect::<std::result::Result<_, _>>()
            .expect("test data");
        let expected = datafusion::arrow::compute::concat_batches(&arrow[0].schema(), &arrow)
            .expect("test data");
        let metadata = reader.metadata();
        let (mut direct, mut first_row) = (0, 0);
        for g in 0..metadata.num_row_groups() {
            let group = metadata.row_group(g);
            let rows = group.num_rows() as usize;
            for c in 0..group.num_columns() {
                let column = group.column(c);
                let data_type = expected.schema().field(c).data_type().clone();
                let mut pages =
                    SerializedPageReader::new(Arc::new(file.clone()), column, rows, None)
                        .expect("test data");
                let decoded =
                    decode_lists(&mut pages, column.column_descr(), rows).expect("test data");
                let Decoded::Lists(chunk) = decoded else {
                    continue;
                };
                assert!(chunk_qualifies(
                    column,
                    float_list_item(&data_type).expect("test data")
                ));
                direct += 1;
                for step in [rows, 7, 64] {
                    for start in (0..rows).step_by(step) {
                        let end = (start + step).min(rows);
                        let got = chunk.take(start..end, &data_type).expect("test data");
                        let want = expected.column(c).slice(first_row + start, end - start);
                        assert_eq!(
                            got.as_ref(),
                            want.as_ref(),
                            "column {c}, rows {start}..{end}"
                        );
                    }
                }
            }
            first_row += rows;
        }
        direct
    }

    fn props() -> datafusion::parquet::file::properties::WriterPropertiesBuilder {
        WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(300))
            .set_data_page_row_count_limit(50)
            .set_write_batch_size(50)
    }

    #[test]
    fn lists_decode_as_arrow_reads_them() {
        let plain = batch(false, false);
        // 4 row groups of 3 list columns, small pages, v1 and v2 pages,
        // compressed and not.
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for compression in [
                Compression::UNCOMPRESSED,
                Compression::ZSTD(ZstdLevel::default()),
            ] {
                let file = write(
                    &plain,
                    props()
                        .set_writer_version(version)
                        .set_compression(compression)
                        .build(),
                );
                assert_eq!(compare(file), 12, "{version:?} {compression:?}");
            }
        }
        // Empty lists and NULL lists are left to arrow-rs; the other
        // columns still decode directly.
        assert_eq!(compare(write(&batch(true, false), props().build())), 8);
        assert_eq!(compare(write(&batch(false, true), props().build())), 8);
        assert_eq!(compare(write(&batch(true, true), props().build())), 4);
        // A dictionary is left to arrow-rs.
        let dictionary = write(&plain, props().set_dictionary_enabled(true).build());
        assert_eq!(compare(dictionary), 0);
    }

    #[test]
    fn a_fixed_size_list_of_another_length_is_an_error() {
        let file = write(&batch(false, false), props().build());
        let reader = SerializedFileReader::new(file.clone()).expect("test data");
        let column = reader.metadata().row_group(0).column(1);
        let mut pages =
            SerializedPageReader::new(Arc::new(file), column, 300, None).expect("test data");
        let Decoded::Lists(chunk) =
            decode_lists(&mut pages, column.column_descr(), 300).expect("test data")
        else {
            panic!("varying decodes directly");
        };
        let fixed =
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float64, true)), 2);
        let err = chunk.take(0..10, &fixed).expect_err("an error").to_string();
        assert!(err.contains("FixedSizeList(2)"), "{err}");
        // The lists themselves are right as a plain list.
        let list = DataType::List(Arc::new(Field::new("item", DataType::Float64, true)));
        let got = chunk.take(0..4, &list).expect("test data");
        assert_eq!(got.as_list::<i32>().value_length(3), 4);
    }

    #[test]
    fn a_chunk_with_fewer_lists_than_rows_is_corrupt() {
        let file = write(&batch(false, false), props().build());
        let reader = SerializedFileReader::new(file.clone()).expect("test data");
        let column = reader.metadata().row_group(0).column(0);
        let mut pages =
            SerializedPageReader::new(Arc::new(file), column, 300, None).expect("test data");
        let err = decode_lists(&mut pages, column.column_descr(), 301).expect_err("an error");
        assert!(
            err.to_string()
                .contains("300 lists in a row group of 301 rows"),
            "{err}"
        );
    }

    /// RLE run of `count` copies of `value` (one byte wide).
    fn rle(count: u64, value: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut h = count << 1;
        while h >= 0x80 {
            out.push((h as u8) | 0x80);
            h >>= 7;
        }
        out.push(h as u8);
        out.push(value);
        out
    }

    #[test]
    fn levels_from_runs_and_packed_groups() {
        // 10 levels of 2 as a run; then a packed group of eight 2s (width 2:
        // 0b10 repeated = 0xAA) and the same with a 1 in the sixth place.
        assert_eq!(all_levels_are(&rle(10, 2), 10, 2, 2), Some(true));
        assert_eq!(all_levels_are(&rle(10, 1), 10, 2, 2), Some(false));
        assert_eq!(all_levels_are(&[0x03, 0xAA, 0xAA], 8, 2, 2), Some(true));
        assert_eq!(all_levels_are(&[0x03, 0xAA, 0x9A], 8, 2, 2), Some(false));
        // A partial last group: only the first 6 values count.
        assert_eq!(all_levels_are(&[0x03, 0xAA, 0x0A], 6, 2, 2), Some(true));
        assert_eq!(all_levels_are(&rle(4, 2), 10, 2, 2), None);

        // Lists of 3 as packed bits: 0 1 1 0 1 1 0 1 | 1 (then padding).
        let mut starts = Vec::new();
        list_starts(&[0x05, 0b1011_0110, 0b0000_0001], 9, 100, &mut starts).expect("test data");
        assert_eq!(starts, [100, 103, 106]);
        let mut starts = Vec::new();
        let mut runs = rle(1, 0);
        runs.extend(rle(2, 1));
        runs.extend(rle(2, 0));
        list_starts(&runs, 5, 0, &mut starts).expect("test data");
        assert_eq!(starts, [0, 3, 4]);
        assert!(list_starts(&rle(2, 3), 2, 0, &mut Vec::new()).is_none());
    }
}
