//! Weights shared by training threads without locks: Hogwild!, as word2vec
//! and gensim train. Threads update rows of the same matrices at the same
//! time; a lost or torn update is a little noise in stochastic gradient
//! descent, and locking per row would cost more than the training itself.
//!
//! This is the one place quiver reads and writes memory that other threads
//! may write at the same time. The rows handed out never overlap within one
//! thread's use (input and output rows live in different matrices), and the
//! matrices outlive every thread (`std::thread::scope`). With one thread
//! there is no sharing at all and results are reproducible.

#![allow(unsafe_code)]

use std::marker::PhantomData;

/// A matrix of `f32` rows that training threads update concurrently.
pub struct SharedRows<'a> {
    ptr: *mut f32,
    rows: usize,
    dim: usize,
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: see the module doc; concurrent unsynchronised row updates are the
// Hogwild algorithm, and the pointer is valid for 'a.
unsafe impl Send for SharedRows<'_> {}
// SAFETY: as above.
unsafe impl Sync for SharedRows<'_> {}

impl<'a> SharedRows<'a> {
    pub fn new(data: &'a mut [f32], dim: usize) -> Self {
        Self {
            ptr: data.as_mut_ptr(),
            rows: data.len() / dim.max(1),
            dim,
            _data: PhantomData,
        }
    }

    /// Row `i`, to read. Panics when `i` is out of range.
    #[inline]
    pub fn read(&self, i: usize) -> &[f32] {
        self.row(i)
    }

    /// Row `i`. Panics when `i` is out of range.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub fn row(&self, i: usize) -> &mut [f32] {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        // SAFETY: in bounds (checked above) of a live allocation of
        // rows * dim floats; see the module doc on sharing.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.dim), self.dim) }
    }
}

/// A zeroed weight matrix of `len` floats, backed by transparent huge pages
/// where Linux offers them on request (`madvise` mode, the common default):
/// training touches rows all over these matrices, and with 4 KiB pages most
/// of those touches also miss the TLB. numpy asks the same for its large
/// arrays, so gensim's matrices get huge pages too.
pub fn weight_matrix(len: usize) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = v.as_mut_ptr() as usize;
        let end = start + len * std::mem::size_of::<f32>();
        let (from, to) = (start.div_ceil(PAGE) * PAGE, end / PAGE * PAGE);
        if to > from {
            // SAFETY: the range lies inside the allocation just made and not
            // yet touched; MADV_HUGEPAGE only changes how it is backed.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    v.resize(len, 0.0);
    v
}
