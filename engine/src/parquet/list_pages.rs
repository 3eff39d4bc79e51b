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
//! NULL element: every definition level is the maximum. [`ListColumn`]
//! checks that on the encoded levels (a run of the maximum, or bit-packed
//! groups compared with the maximum's bit pattern), takes the list starts
//! from the zero bits of the repetition levels, and keeps each page's
//! PLAIN values as they came out of the decompressor, without a copy
//! (dictionary-encoded pages, as pyarrow and Spark write a column's first
//! pages, are looked up into a new buffer). It decodes a page at a time as
//! rows are taken. At a page it cannot take that way (another encoding, a
//! NULL or an empty list) it says so, and the caller reads the rest of the
//! row group's column with arrow-rs; only a chunk that contradicts itself
//! is an error.

use std::collections::VecDeque;
use std::mem::size_of;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    ArrayRef, FixedSizeListArray, GenericListArray, OffsetSizeTrait, PrimitiveArray,
};
use datafusion::arrow::buffer::{Buffer, MutableBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, FieldRef, Float32Type, Float64Type,
};
use datafusion::common::{Result, exec_err};
use datafusion::parquet::basic::{Encoding, Type as PhysicalType};
use datafusion::parquet::column::page::{Page, PageReader};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ColumnChunkMetaData;

use datafusion::parquet::schema::types::ColumnDescPtr;

use super::levels::{Run, all_levels_are, for_runs, list_starts, unpack};
use crate::vectors::vector_element;

/// The element type of a list column this module decodes, if it is one:
/// `List`, `LargeList` or `FixedSizeList` of `Float32` or `Float64`.
pub(crate) fn float_list_item(data_type: &DataType) -> Option<&DataType> {
    vector_element(data_type).filter(|t| matches!(t, DataType::Float32 | DataType::Float64))
}

/// Whether a column chunk's footer allows [`ListColumn`]: one level of
/// repetition, float values of the expected width, PLAIN or dictionary
/// values with RLE levels. (The pages are checked again as they come.)
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
        && column.encodings().all(|e| {
            matches!(
                e,
                Encoding::PLAIN
                    | Encoding::RLE
                    | Encoding::PLAIN_DICTIONARY
                    | Encoding::RLE_DICTIONARY
            )
        })
}

/// A row group's list column, decoded a page at a time as its rows are
/// taken (so it holds about a page, not the row group).
pub(crate) struct ListColumn {
    pages: Box<dyn PageReader>,
    descr: ColumnDescPtr,
    /// Bytes per value (4 or 8).
    width: usize,
    max_def: u8,
    def_width: u32,
    /// The row group's rows, which its lists must match.
    rows: usize,
    /// The index of each list's first value, for the lists decoded so far.
    starts: Vec<usize>,
    /// Values decoded so far.
    values: usize,
    /// The values of the pages not yet taken: (index of the first, bytes).
    buffers: VecDeque<(usize, Buffer)>,
    dictionary: Option<Buffer>,
    done: bool,
}

impl ListColumn {
    /// The list column read from `pages`, or `None` if its schema is not a
    /// single-level list of floats.
    pub(crate) fn new(
        pages: Box<dyn PageReader>,
        descr: ColumnDescPtr,
        rows: usize,
    ) -> Option<Self> {
        let width = match descr.physical_type() {
            PhysicalType::FLOAT => 4,
            PhysicalType::DOUBLE => 8,
            _ => return None,
        };
        let max_def = u8::try_from(descr.max_def_level())
            .ok()
            .filter(|&d| d >= 1)?;
        if descr.max_rep_level() != 1 {
            return None;
        }
        Some(Self {
            pages,
            descr,
            width,
            max_def,
            def_width: 8 - max_def.leading_zeros(),
            rows,
            starts: Vec::new(),
            values: 0,
            buffers: VecDeque::new(),
            dictionary: None,
            done: false,
        })
    }

    /// Rows `rows` as an array of `data_type` (a list type accepted by
    /// [`float_list_item`], whose width matches the column's); `None` if
    /// a page on the way holds what this module does not take (a NULL or
    /// empty list, an encoding other than PLAIN or a dictionary): the
    /// caller reads from `rows.start` on with arrow-rs. Rows are taken in
    /// order, each once.
    pub(crate) fn take(
        &mut self,
        rows: Range<usize>,
        data_type: &DataType,
    ) -> Result<Option<ArrayRef>> {
        // Until the list after the last one wanted has started (its start
        // ends the range), or the chunk has ended.
        while !self.done && self.starts.len() <= rows.end {
            if !self.next_page()? {
                return Ok(None);
            }
        }
        if self.done && self.starts.len() != self.rows {
            return self.corrupt(&format!(
                "{} lists in a row group of {} rows",
                self.starts.len(),
                self.rows
            ));
        }
        if rows.end > self.starts.len() {
            return exec_err!(
                "rows {rows:?} past the {} of the row group",
                self.starts.len()
            );
        }
        let Some(&first) = self.starts.get(rows.start).or(
            // An empty range at the very end.
            (rows.is_empty() && rows.start == self.starts.len()).then_some(&self.values),
        ) else {
            return exec_err!("rows {rows:?} are not a range of the row group");
        };
        if self
            .buffers
            .front()
            .is_some_and(|(start, _)| *start > first)
        {
            return exec_err!("rows {rows:?} were asked for after later rows");
        }
        let end = self.starts.get(rows.end).copied().unwrap_or(self.values);
        let values = self.values_between(first, end);
        // Pages wholly before `end` are done with.
        while self.buffers.get(1).is_some_and(|(start, _)| *start <= end) {
            self.buffers.pop_front();
        }
        let starts = &self.starts[rows.clone()];
        Ok(Some(match data_type {
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
        }))
    }

    fn corrupt<T>(&self, what: &str) -> Result<T> {
        exec_err!(
            "Parquet column {} is corrupt: {what}",
            self.descr.path().string()
        )
    }

    /// Decodes the next page; false if it is one this module does not take.
    fn next_page(&mut self) -> Result<bool> {
        let Some(page) = self.pages.get_next_page()? else {
            self.done = true;
            return Ok(true);
        };
        // (page bytes, repetition levels, definition levels, values at,
        // level count, value encoding)
        let (buf, rep, def, at, n, encoding) = match page {
            Page::DictionaryPage {
                buf, num_values, ..
            } => {
                let bytes = num_values as usize * self.width;
                if buf.len() < bytes {
                    return self.corrupt("the dictionary ends early");
                }
                self.dictionary = Some(aligned(buf, 0, bytes, self.width));
                return Ok(true);
            }
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                rep_level_encoding,
                ..
            } => {
                if def_level_encoding != Encoding::RLE || rep_level_encoding != Encoding::RLE {
                    return Ok(false);
                }
                let Some(rep) = prefixed(&buf, 0) else {
                    return self.corrupt("repetition levels overrun the page");
                };
                let Some(def) = prefixed(&buf, rep.end) else {
                    return self.corrupt("definition levels overrun the page");
                };
                let at = def.end;
                (buf, rep, def, at, num_values as usize, encoding)
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
                if num_nulls != 0 {
                    return Ok(false);
                }
                let rep = 0..rep_levels_byte_len as usize;
                let def = rep.end..rep.end + def_levels_byte_len as usize;
                if def.end > buf.len() {
                    return self.corrupt("levels overrun the page");
                }
                let at = def.end;
                (buf, rep, def, at, num_values as usize, encoding)
            }
        };
        if !matches!(
            encoding,
            Encoding::PLAIN | Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY
        ) {
            return Ok(false);
        }
        // The value count is the page header's word: a page of a hundred
        // bytes can claim billions of dictionary-encoded values. Above a
        // bound no writer reaches, arrow-rs, which decodes a batch at a
        // time, reads the rest.
        if n > MAX_PAGE_VALUES {
            return Ok(false);
        }
        match all_levels_are(&buf[def], n, self.def_width, self.max_def) {
            None => return self.corrupt("definition levels end early"),
            Some(false) => return Ok(false),
            Some(true) => {}
        }
        let before = self.starts.len();
        // The limit stops a page that starts more lists than the row group
        // has rows before their starts are stored.
        if list_starts(&buf[rep], n, self.values, self.rows, &mut self.starts).is_none() {
            self.starts.truncate(before);
            return self.corrupt(
                "repetition levels end early, exceed 1, or start more lists than the row group \
                 has rows",
            );
        }
        if self.values == 0 && n > 0 && self.starts.first() != Some(&0) {
            return self.corrupt("the first value does not start a list");
        }
        let values = if encoding == Encoding::PLAIN {
            let bytes = n * self.width;
            if buf.len() < at + bytes {
                return self.corrupt("values end early");
            }
            aligned(buf, at, bytes, self.width)
        } else {
            let Some(dictionary) = &self.dictionary else {
                return self.corrupt("a dictionary-encoded page without a dictionary");
            };
            match lookup(&buf[at..], n, dictionary, self.width) {
                Some(values) => values,
                None => {
                    return self.corrupt("dictionary indices end early or overrun the dictionary");
                }
            }
        };
        self.buffers.push_back((self.values, values));
        self.values += n;
        Ok(true)
    }

    /// The bytes of values `first..end`: a slice of one page's buffer, or
    /// a copy where the range crosses pages.
    fn values_between(&self, first: usize, end: usize) -> Buffer {
        let width = self.width;
        let at = self
            .buffers
            .partition_point(|(start, _)| *start <= first)
            .saturating_sub(1);
        if let Some((start, buffer)) = self.buffers.get(at)
            && (end <= start + buffer.len() / width || first == end)
        {
            return buffer.slice_with_length((first - start) * width, (end - first) * width);
        }
        let mut out = MutableBuffer::with_capacity((end - first) * width);
        for (start, buffer) in self.buffers.iter().skip(at) {
            let len = buffer.len() / width;
            if *start >= end {
                break;
            }
            let (from, to) = (first.max(*start) - start, end.min(start + len) - start);
            out.extend_from_slice(&buffer.as_slice()[from * width..to * width]);
        }
        out.into()
    }
}

/// The most values one data page may hold for this module to decode it
/// (16 Mi: 64 MiB of floats; writers close pages at about 1 MiB).
const MAX_PAGE_VALUES: usize = 1 << 24;

/// The values of a dictionary-encoded page: a byte of bit width, then `n`
/// hybrid-encoded indices into `dictionary` (values of `width` bytes).
fn lookup(b: &[u8], n: usize, dictionary: &Buffer, width: usize) -> Option<Buffer> {
    let (&bits, b) = b.split_first()?;
    let bits = u32::from(bits);
    if bits > 32 {
        return None;
    }
    let entries = dictionary.len() / width;
    let dictionary = dictionary.as_slice();
    // Grown as values are decoded, not sized by the header's count.
    let mut out = MutableBuffer::with_capacity(n.min(1 << 16) * width);
    let mut push = |i: u32| {
        let i = i as usize;
        (i < entries).then(|| out.extend_from_slice(&dictionary[i * width..(i + 1) * width]))
    };
    for_runs(b, n, bits, |run| {
        match run {
            Run::Repeat(index, count) => (0..count).try_for_each(|_| push(index))?,
            Run::Packed(bytes, count) => {
                (0..count).try_for_each(|k| push(unpack(bytes, bits, k)))?
            }
        }
        Some(true)
    })?;
    Some(out.into())
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
        Ok(own) => copied(&own[at..at + bytes]),
        Err(shared) => copied(&shared[at..at + bytes]),
    }
}

/// A copy of `bytes` in memory aligned for any value type.
fn copied(bytes: &[u8]) -> Buffer {
    let mut out = MutableBuffer::with_capacity(bytes.len());
    out.extend_from_slice(bytes);
    out.into()
}

/// The range of a v1 page's level block at `from`: a 4-byte length, then
/// the RLE/bit-packed hybrid bytes.
fn prefixed(buf: &[u8], from: usize) -> Option<Range<usize>> {
    let len = u32::from_le_bytes(buf.get(from..from + 4)?.try_into().ok()?) as usize;
    let start = from + 4;
    (start + len <= buf.len()).then_some(start..start + len)
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

    /// `batch(false, false)` with `large` NULL at `rows`.
    fn batch_with_nulls_at(rows: &[u32]) -> RecordBatch {
        let full = batch(false, false);
        let mut large = LargeListBuilder::new(Float32Builder::new());
        for i in 0..1000u32 {
            if rows.contains(&i) {
                large.append(false);
            } else {
                let x = i as f32;
                large.values().append_slice(&[x, x + 0.25]);
                large.append(true);
            }
        }
        let mut columns = full.columns().to_vec();
        columns[2] = Arc::new(large.finish());
        RecordBatch::try_new(full.schema(), columns).expect("test data")
    }

    fn write(batch: &RecordBatch, props: WriterProperties) -> Bytes {
        let mut out = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("test data");
        writer.write(batch).expect("test data");
        writer.close().expect("test data");
        Bytes::from(out)
    }

    /// The list column `c` of row group `g` of `file`.
    fn column(file: &Bytes, g: usize, c: usize) -> ListColumn {
        let reader = SerializedFileReader::new(file.clone()).expect("test data");
        let group = reader.metadata().row_group(g);
        let chunk = group.column(c);
        let pages = SerializedPageReader::new(
            Arc::new(file.clone()),
            chunk,
            group.num_rows() as usize,
            None,
        )
        .expect("test data");
        ListColumn::new(
            Box::new(pages),
            chunk.column_descr_ptr(),
            group.num_rows() as usize,
        )
        .expect("a list of floats")
    }

    /// Decodes every list column of every row group directly, in batches
    /// of several sizes (crossing page boundaries), and compares them with
    /// arrow-rs's reading. Returns (row group columns decoded whole, and
    /// the rows decoded before a page sent the rest to arrow-rs).
    fn compare(file: Bytes) -> (usize, Vec<usize>) {
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
        let (mut whole, mut partial, mut first_row) = (0, Vec::new(), 0);
        for g in 0..metadata.num_row_groups() {
            let group = metadata.row_group(g);
            let rows = group.num_rows() as usize;
            for c in 0..group.num_columns() {
                let data_type = expected.schema().field(c).data_type().clone();
                assert!(chunk_qualifies(
                    group.column(c),
                    float_list_item(&data_type).expect("lists")
                ));
                let mut taken = Vec::new();
                for step in [rows, 7, 64] {
                    let mut list = column(&file, g, c);
                    let mut done = 0;
                    for start in (0..rows).step_by(step) {
                        let end = (start + step).min(rows);
                        let Some(got) = list.take(start..end, &data_type).expect("test data")
                        else {
                            break;
                        };
                        let want = expected.column(c).slice(first_row + start, end - start);
                        assert_eq!(
                            got.as_ref(),
                            want.as_ref(),
                            "column {c}, rows {start}..{end}"
                        );
                        done = end;
                    }
                    taken.push(done);
                }
                if taken[0] == rows {
                    whole += 1;
                }
                if taken[1] > 0 && taken[1] < rows {
                    partial.push(taken[1]);
                }
            }
            first_row += rows;
        }
        (whole, partial)
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
        // compressed and not, PLAIN and dictionary-encoded.
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for compression in [
                Compression::UNCOMPRESSED,
                Compression::ZSTD(ZstdLevel::default()),
            ] {
                for dictionary in [false, true] {
                    let file = write(
                        &plain,
                        props()
                            .set_writer_version(version)
                            .set_compression(compression)
                            .set_dictionary_enabled(dictionary)
                            .build(),
                    );
                    assert_eq!(
                        compare(file),
                        (12, vec![]),
                        "{version:?} {compression:?} {dictionary}"
                    );
                }
            }
        }
        // A dictionary that overflows into PLAIN pages part way.
        let spill = props()
            .set_dictionary_enabled(true)
            .set_dictionary_page_size_limit(256)
            .build();
        assert_eq!(compare(write(&plain, spill)), (12, vec![]));
    }

    /// Empty and NULL lists are left to arrow-rs from the page that holds
    /// them: every row group of `varying` (empty lists in its first page)
    /// and of `large` (a NULL at row 7 of every 100); with `large`'s NULLs
    /// only at rows 207 and 707, rows before their page decode directly.
    #[test]
    fn gaps_send_the_rest_of_a_chunk_to_arrow() {
        assert_eq!(
            compare(write(&batch(true, false), props().build())),
            (8, vec![])
        );
        assert_eq!(
            compare(write(&batch(false, true), props().build())),
            (8, vec![])
        );
        assert_eq!(
            compare(write(&batch(true, true), props().build())),
            (4, vec![])
        );
        let late = write(&batch_with_nulls_at(&[207, 707]), props().build());
        // Row 207 is in the page of rows 200-249 of row group 0, row 707
        // in that of rows 100-149 of row group 2 (its row 107): batches of
        // 7 get to 196 and 98, the batch after needing the next list's
        // start, which is in that page.
        assert_eq!(compare(late), (10, vec![196, 98]));
    }

    #[test]
    fn a_fixed_size_list_of_another_length_is_an_error() {
        let file = write(&batch(false, false), props().build());
        let fixed =
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float64, true)), 2);
        let err = column(&file, 0, 1)
            .take(0..10, &fixed)
            .expect_err("lists of 1 to 4 values");
        assert!(err.to_string().contains("FixedSizeList(2)"), "{err}");
        // The lists themselves are right as a plain list.
        let list = DataType::List(Arc::new(Field::new("item", DataType::Float64, true)));
        let got = column(&file, 0, 1)
            .take(0..4, &list)
            .expect("test data")
            .expect("decoded");
        assert_eq!(got.as_list::<i32>().value_length(3), 4);
    }

    #[test]
    fn a_chunk_with_fewer_lists_than_rows_is_corrupt() {
        let file = write(&batch(false, false), props().build());
        let reader = SerializedFileReader::new(file.clone()).expect("test data");
        let chunk = reader.metadata().row_group(0).column(0);
        let pages =
            SerializedPageReader::new(Arc::new(file.clone()), chunk, 300, None).expect("test data");
        let mut list =
            ListColumn::new(Box::new(pages), chunk.column_descr_ptr(), 301).expect("a list");
        let err = list
            .take(
                0..301,
                &batch(false, false).schema().field(0).data_type().clone(),
            )
            .expect_err("a row short");
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
        list_starts(&[0x05, 0b1011_0110, 0b0000_0001], 9, 100, 9, &mut starts).expect("test data");
        assert_eq!(starts, [100, 103, 106]);
        let mut starts = Vec::new();
        let mut runs = rle(1, 0);
        runs.extend(rle(2, 1));
        runs.extend(rle(2, 0));
        list_starts(&runs, 5, 0, 5, &mut starts).expect("test data");
        assert_eq!(starts, [0, 3, 4]);
        assert!(list_starts(&rle(2, 3), 2, 0, 2, &mut Vec::new()).is_none());
    }

    /// Header words a hostile page may hold: sizes that overflow, runs of a
    /// trillion values, more list starts than rows. Each is `None` (the
    /// page is corrupt), at once and without allocating for the claim.
    #[test]
    fn absurd_run_headers_are_refused_not_trusted() {
        // A bit-packed run of 2^62 groups: its byte length overflows.
        let mut huge = Vec::new();
        let mut v = u64::MAX;
        while v >= 0x80 {
            huge.push((v as u8) | 0x80);
            v >>= 7;
        }
        huge.push(v as u8);
        assert_eq!(for_runs(&huge, 10, 32, |_| Some(true)), None);
        assert_eq!(all_levels_are(&huge, 10, 8, 1), None);
        // A run of 2^40 list starts, against a row group of 10 rows.
        let mut starts = Vec::new();
        assert!(list_starts(&rle(1 << 40, 0), usize::MAX, 0, 10, &mut starts).is_none());
        assert!(starts.len() <= 10);
        // Packed starts past the limit stop at it.
        let mut starts = Vec::new();
        assert!(list_starts(&[0x03, 0, 0], 16, 0, 4, &mut starts).is_none());
        assert_eq!(starts.len(), 4);
        // A dictionary page claiming 2^40 indices in two bytes.
        let dictionary = copied(&1.0f32.to_le_bytes());
        let mut page = vec![1u8];
        page.extend(rle(1 << 40, 0));
        assert!(lookup(&page, 1 << 20, &dictionary, 4).is_some_and(|b| b.len() == 4 << 20));
        assert!(lookup(&page[..2], 8, &dictionary, 4).is_none());
    }
}
