//! The encoded corpus on disk, for corpora past the memory budget.
//!
//! While reading, token ids are appended to an unlinked temporary file
//! whenever the in-memory part reaches the budget. When the vocabulary is
//! cut, the file is renumbered chunk by chunk into a second one, which is
//! memory-mapped for training: the kernel pages it in and out, so training
//! holds the weights plus whatever part of the corpus it is reading. The
//! files vanish with the process.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::Deref;

use datafusion::common::{DataFusionError, Result};

/// The default budget for the encoded corpus: 4 GiB, or
/// `QUIVER_WORD2VEC_MEMORY` bytes.
pub fn memory_budget() -> usize {
    std::env::var("QUIVER_WORD2VEC_MEMORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4 << 30)
}

/// Token ids, in memory or mapped from a spill file.
pub enum Tokens {
    Memory(Vec<u32>),
    Mapped(memmap2::Mmap),
}

impl Deref for Tokens {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            Tokens::Memory(v) => v,
            Tokens::Mapped(map) => {
                // A mapping starts on a page boundary and the file holds
                // whole u32s, so the cast cannot fail.
                let (head, ids, tail) = as_u32s(map);
                debug_assert!(head.is_empty() && tail.is_empty());
                ids
            }
        }
    }
}

/// `bytes` as u32s (native endian, as written).
fn as_u32s(bytes: &[u8]) -> (&[u8], &[u32], &[u8]) {
    // SAFETY: every bit pattern is a valid u32; `align_to` only yields the
    // aligned middle part.
    #[allow(unsafe_code)]
    let parts = unsafe { bytes.align_to::<u32>() };
    parts
}

fn io(what: &str, e: std::io::Error) -> DataFusionError {
    DataFusionError::Execution(format!("word2vec: {what} the corpus spill file: {e}"))
}

/// The spill file being written while the corpus is read.
pub struct Spill {
    out: BufWriter<File>,
    pub tokens: u64,
}

impl Spill {
    pub fn new() -> Result<Self> {
        let file = tempfile::tempfile().map_err(|e| io("cannot create", e))?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, file),
            tokens: 0,
        })
    }

    pub fn write(&mut self, ids: &[u32]) -> Result<()> {
        for chunk in ids.chunks(1 << 16) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|id| id.to_ne_bytes()).collect();
            self.out
                .write_all(&bytes)
                .map_err(|e| io("cannot write", e))?;
        }
        self.tokens += ids.len() as u64;
        Ok(())
    }

    /// Renumbers the spilled corpus with `remap` (`u32::MAX`: dropped) into
    /// a new file, sentence by sentence (`ends` are offsets into the old
    /// file), and maps it. Returns the tokens and the new sentence ends;
    /// sentences left empty are dropped.
    pub fn renumber(self, remap: &[u32], ends: &[u64]) -> Result<(Tokens, Vec<u64>)> {
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| io("cannot flush", e.into_error()))?;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(|e| io("cannot rewind", e))?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut output = Spill::new()?;
        let mut new_ends = Vec::with_capacity(ends.len());
        let (mut read, mut written) = (0u64, 0u64);
        let mut word = [0u8; 4];
        let mut kept: Vec<u32> = Vec::with_capacity(1 << 16);
        for &end in ends {
            let start = written;
            while read < end {
                input
                    .read_exact(&mut word)
                    .map_err(|e| io("cannot read", e))?;
                read += 1;
                let id = remap[u32::from_ne_bytes(word) as usize];
                if id != u32::MAX {
                    kept.push(id);
                    written += 1;
                    if kept.len() == kept.capacity() {
                        output.write(&kept)?;
                        kept.clear();
                    }
                }
            }
            if written > start {
                new_ends.push(written);
            }
        }
        output.write(&kept)?;
        let file = output
            .out
            .into_inner()
            .map_err(|e| io("cannot flush", e.into_error()))?;
        if written == 0 {
            return Ok((Tokens::Memory(Vec::new()), new_ends));
        }
        // SAFETY: the file is an unlinked temporary file that only this
        // process holds; nothing else can change it while it is mapped.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io("cannot map", e))?;
        Ok((Tokens::Mapped(map), new_ends))
    }
}
