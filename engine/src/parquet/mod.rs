//! Parquet reading that quiver adds to DataFusion's: statistics that never
//! hide a NaN ([`nan_safe`]), a decoder for pages of float lists
//! ([`list_pages`]), and the page selections that sampling and top-k
//! seeding give a scan ([`PageAccess`]).

use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};

pub mod fetched;
mod levels;
pub mod list_pages;
pub mod nan_safe;

#[cfg(test)]
mod fuzz;

/// What a scan reads of a row group: nothing, all of it, or the rows of
/// some of its pages (with their count).
pub enum PageAccess {
    Skip,
    All,
    Pages(RowSelection, u64),
}

impl PageAccess {
    /// The access that reads the pages of a row group, given in order as
    /// (rows, kept), that are kept: none, all, or a selection of their rows.
    pub fn of_pages(pages: impl IntoIterator<Item = (u64, bool)>) -> Self {
        let (mut selectors, mut kept, mut all) = (Vec::new(), 0u64, true);
        for (rows, keep) in pages {
            let n = rows as usize;
            if keep {
                kept += rows;
                selectors.push(RowSelector::select(n));
            } else {
                all = false;
                selectors.push(RowSelector::skip(n));
            }
        }
        match (kept, all) {
            (_, true) => PageAccess::All,
            (0, false) => PageAccess::Skip,
            _ => PageAccess::Pages(RowSelection::from(selectors), kept),
        }
    }
}
