//! The byte ranges of a Parquet file that a scan fetched, served as a file
//! to arrow-rs and to the page reader.

use bytes::{Buf, Bytes};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::reader::{ChunkReader, Length};

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
