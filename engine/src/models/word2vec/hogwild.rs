//! Weights shared by training threads without locks: Hogwild!, as word2vec
//! and gensim train. Threads update rows of the same matrices at the same
//! time; a lost or torn update is a little noise in stochastic gradient
//! descent, and locking per row would cost more than the training itself.
//!
//! This is the one place quiver reads and writes memory that other threads
//! may write at the same time, and it never makes a Rust reference to that
//! memory: a `&mut [f32]` promises the compiler that nothing else touches
//! the floats while it lives, which several threads holding the same row
//! would break (undefined behaviour, #23). A [`Row`] is a raw pointer and a
//! length; its methods read and write through the pointer, float by float
//! in plain loops the compiler still vectorises, or hand the pointer to
//! the SIMD steps, which load and store through it. A row a thread works on
//! is first copied into its own buffer where it is read many times (the
//! skip-gram input). The matrices outlive every thread (`std::thread::scope`,
//! the `'a` of [`SharedRows`]). With one thread there is no sharing at all
//! and results are reproducible.

#![allow(unsafe_code)]

use std::marker::PhantomData;

/// A matrix of `f32` rows that training threads update concurrently.
pub struct SharedRows<'a> {
    ptr: *mut f32,
    rows: usize,
    dim: usize,
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: see the module doc: rows are reached only through raw pointers,
// and the pointer is valid for 'a.
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

    /// Row `i`. Panics when `i` is out of range.
    #[inline(always)]
    pub fn row(&self, i: usize) -> Row<'_> {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        Row {
            // SAFETY: in bounds (checked above) of a live allocation of
            // rows * dim floats.
            ptr: unsafe { self.ptr.add(i * self.dim) },
            len: self.dim,
            _rows: PhantomData,
        }
    }
}

/// One row of a [`SharedRows`]: `len` floats at `ptr`, which other threads
/// may be reading and writing.
#[derive(Clone, Copy)]
pub struct Row<'r> {
    ptr: *mut f32,
    len: usize,
    _rows: PhantomData<&'r SharedRows<'r>>,
}

impl Row<'_> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// The first float, for loads and stores of the SIMD steps and for
    /// prefetching; `len` floats from it are the row's.
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut f32 {
        self.ptr
    }

    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        debug_assert!(i < self.len);
        // SAFETY: `i` is below `len` (every caller loops over `0..len`),
        // and the row is live for the borrow of its matrix.
        unsafe { self.ptr.add(i).read() }
    }

    #[inline(always)]
    fn set(&self, i: usize, v: f32) {
        debug_assert!(i < self.len);
        // SAFETY: as in `get`.
        unsafe { self.ptr.add(i).write(v) }
    }

    /// Copies the row into `out` (of the row's length).
    #[inline(always)]
    pub fn copy_to(&self, out: &mut [f32]) {
        let n = self.len.min(out.len());
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.get(i);
        }
    }

    /// The dot product with `x`, summed in eight lanes (so that the
    /// compiler keeps eight sums in one register).
    #[inline(always)]
    pub fn dot(&self, x: &[f32]) -> f32 {
        let n = self.len.min(x.len());
        let mut acc = [0.0f32; 8];
        let chunks = n / 8;
        for c in 0..chunks {
            for (l, a) in acc.iter_mut().enumerate() {
                *a += x[c * 8 + l] * self.get(c * 8 + l);
            }
        }
        let mut s: f32 = acc.iter().sum();
        for (i, xi) in x.iter().enumerate().take(n).skip(chunks * 8) {
            s += xi * self.get(i);
        }
        s
    }

    /// `y += alpha * row`.
    #[inline(always)]
    pub fn add_to(&self, alpha: f32, y: &mut [f32]) {
        let n = self.len.min(y.len());
        for (i, y) in y[..n].iter_mut().enumerate() {
            *y += alpha * self.get(i);
        }
    }

    /// `row += alpha * x`.
    #[inline(always)]
    pub fn add(&self, alpha: f32, x: &[f32]) {
        let n = self.len.min(x.len());
        for (i, x) in x[..n].iter().enumerate() {
            self.set(i, self.get(i) + alpha * x);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_and_update_through_their_pointer() {
        let mut data: Vec<f32> = (0..30).map(|i| i as f32).collect();
        let rows = SharedRows::new(&mut data, 10);
        let r = rows.row(1);
        let x: Vec<f32> = (0..10).map(|i| (i % 3) as f32).collect();
        let want: f32 = (0..10).map(|i| (10 + i) as f32 * (i % 3) as f32).sum();
        assert_eq!(r.dot(&x), want);
        let mut y = vec![1.0f32; 10];
        r.add_to(2.0, &mut y);
        assert_eq!(y[3], 1.0 + 2.0 * 13.0);
        r.add(0.5, &x);
        let mut copy = vec![0.0f32; 10];
        r.copy_to(&mut copy);
        assert_eq!(copy[2], 12.0 + 0.5 * 2.0);
        assert_eq!(data[0], 0.0, "other rows untouched");
        assert_eq!(data[22], 22.0);
    }
}
