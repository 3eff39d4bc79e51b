//! Vector columns: which types are vectors, and one reader of their rows.
//!
//! A vector is a `FixedSizeList`, `List` or `LargeList` of numbers.
//! [`VectorRows`] reads a column of one float width (or one scalar
//! broadcast to every row) as slices, without copying; [`VectorColumn`]
//! first casts a column of any numeric width to `Float32`, for the model
//! code that computes in `f32` (k-means training, `cluster_assign`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, ListArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Float64Type};
use datafusion::common::{DataFusionError, Result, exec_err};

/// The element type a vector computation runs in.
pub trait Element:
    datafusion::arrow::datatypes::ArrowNativeType
    + Default
    + PartialOrd
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    type Arrow: datafusion::arrow::datatypes::ArrowPrimitiveType<Native = Self>;
    const DATA_TYPE: DataType;
    fn sqrt(self) -> Self;
}

impl Element for f32 {
    type Arrow = Float32Type;
    const DATA_TYPE: DataType = DataType::Float32;
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Element for f64 {
    type Arrow = Float64Type;
    const DATA_TYPE: DataType = DataType::Float64;
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// The element type of a vector type, or `None` when `dt` is not a vector.
pub fn vector_element(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::FixedSizeList(f, _) | DataType::List(f) | DataType::LargeList(f)
            if f.data_type().is_numeric() =>
        {
            Some(f.data_type())
        }
        // An empty literal list `[]` has element type Null.
        DataType::List(f) | DataType::LargeList(f) if f.data_type().is_null() => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// The fixed dimension of a vector type, when its type carries one.
pub fn fixed_dim(dt: &DataType) -> Option<i32> {
    match dt {
        DataType::FixedSizeList(_, n) => Some(*n),
        _ => None,
    }
}

/// Rows of a vector column (or of one scalar vector broadcast to every row),
/// read as slices of the element type.
pub struct VectorRows<'a, T: Element> {
    values: &'a [T],
    layout: Layout<'a>,
    nulls: Option<&'a NullBuffer>,
    value_nulls: Option<&'a NullBuffer>,
    broadcast: bool,
    len: usize,
}

enum Layout<'a> {
    Fixed(usize),
    Offsets(&'a [i32]),
}

impl<'a, T: Element> VectorRows<'a, T> {
    /// Reads `array` (a coerced vector array). `broadcast` repeats row 0.
    pub fn try_new(function: &str, array: &'a ArrayRef, broadcast: bool) -> Result<Self> {
        let (values, layout, nulls): (&ArrayRef, Layout, Option<&NullBuffer>) =
            match array.data_type() {
                DataType::FixedSizeList(_, n) => {
                    let list: &FixedSizeListArray = array.as_fixed_size_list();
                    (list.values(), Layout::Fixed(*n as usize), list.nulls())
                }
                DataType::List(_) => {
                    let list: &ListArray = array.as_list::<i32>();
                    (
                        list.values(),
                        Layout::Offsets(list.value_offsets()),
                        list.nulls(),
                    )
                }
                other => {
                    return exec_err!("{function}: expected a vector, got {other}");
                }
            };
        if values.data_type() != &T::DATA_TYPE {
            return exec_err!(
                "{function}: expected vector elements of type {}, got {}",
                T::DATA_TYPE,
                values.data_type()
            );
        }
        let prim = values.as_primitive::<T::Arrow>();
        Ok(Self {
            values: &prim.values()[..],
            layout,
            nulls,
            value_nulls: prim.nulls().filter(|n| n.null_count() > 0),
            broadcast,
            len: array.len(),
        })
    }

    /// Rows, counting a broadcast scalar as one.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The dimension of row `i`, or `None` when it is NULL.
    pub fn dim_of(&self, i: usize) -> Option<usize> {
        let i = if self.broadcast { 0 } else { i };
        if i >= self.len || self.nulls.is_some_and(|n| n.is_null(i)) {
            return None;
        }
        Some(match self.layout {
            Layout::Fixed(dim) => dim,
            Layout::Offsets(offsets) => (offsets[i + 1] - offsets[i]) as usize,
        })
    }

    /// The vector of row `i`, or `None` when it is NULL or holds a NULL element.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [T]> {
        let i = if self.broadcast { 0 } else { i };
        if i >= self.len || self.nulls.is_some_and(|n| n.is_null(i)) {
            return None;
        }
        let (start, end) = match self.layout {
            Layout::Fixed(dim) => (i * dim, (i + 1) * dim),
            Layout::Offsets(offsets) => (offsets[i] as usize, offsets[i + 1] as usize),
        };
        if let Some(vn) = self.value_nulls
            && (start..end).any(|j| vn.is_null(j))
        {
            return None;
        }
        Some(&self.values[start..end])
    }
}

impl<'a> VectorRows<'a, f32> {
    /// Reads row `i` into `out`. `Ok(false)` for a NULL row or one with a
    /// NULL, NaN or infinite component; an error for a row of another
    /// dimension than `out`'s.
    pub fn read_finite(&self, i: usize, out: &mut [f32], who: &str) -> Result<bool> {
        let Some(dim) = self.dim_of(i) else {
            return Ok(false);
        };
        if dim != out.len() {
            return exec_err!(
                "{who}: a vector has {dim} dimensions, the model has {}",
                out.len()
            );
        }
        match self.get(i) {
            Some(row) if row.iter().all(|x| x.is_finite()) => {
                out.copy_from_slice(row);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// A vector column of any numeric width, cast to `Float32` elements (a
/// `FixedSizeList` stays fixed; `List` and `LargeList` become `List`).
pub struct VectorColumn(ArrayRef);

impl VectorColumn {
    /// Accepts `FixedSizeList`, `List` or `LargeList` of numbers; `who`
    /// names the caller in the error for anything else.
    pub fn try_new(array: &ArrayRef, who: &str) -> Result<Self> {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let target = match array.data_type() {
            DataType::FixedSizeList(f, n) if f.data_type().is_numeric() => {
                DataType::FixedSizeList(item, *n)
            }
            DataType::List(f) | DataType::LargeList(f) if f.data_type().is_numeric() => {
                DataType::List(item)
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "{who}: expected a vector (a FixedSizeList or List of numbers), got {other}"
                )));
            }
        };
        let cast = if array.data_type() == &target {
            Arc::clone(array)
        } else {
            datafusion::arrow::compute::cast(array, &target)?
        };
        Ok(Self(cast))
    }

    /// Its rows, read as `f32` slices.
    pub fn rows(&self, who: &str) -> Result<VectorRows<'_, f32>> {
        VectorRows::try_new(who, &self.0, false)
    }
}

/// Scales `v` to unit length. `false` (and `v` unchanged) when its norm is
/// zero or not finite: such a vector has no direction.
pub fn normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
        true
    } else {
        false
    }
}
