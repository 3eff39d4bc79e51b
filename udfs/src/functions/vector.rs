//! Shared handling of vector arguments: which types are vectors, how two
//! vector arguments are coerced to one element type, and a row accessor that
//! reads a `FixedSizeList` or `List` column (or a broadcast scalar) as slices
//! without copying.
//!
//! A vector is a `FixedSizeList`, `List` or `LargeList` of numbers. Two vector
//! arguments are computed in `Float32` when either of them holds `Float32`
//! (so a `Float32` embedding column is never upcast because the other side is
//! a `Float64` literal), and in `Float64` otherwise.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, ListArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

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

/// Checks that `arg_types` are two vectors and returns the types to cast them
/// to: both with the same float element type (see the module doc).
pub fn coerce_vector_pair(function: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    if arg_types.len() != 2 {
        return plan_err!(
            "{function}: expected 2 arguments (two vectors), got {}",
            arg_types.len()
        );
    }
    for (i, dt) in arg_types.iter().enumerate() {
        if !dt.is_null() && vector_element(dt).is_none() {
            return plan_err!(
                "{function}: argument {} must be a vector (an array of numbers, e.g. \
                 FixedSizeList<Float32, n> or [1.0, 2.0]), got {dt}",
                i + 1
            );
        }
    }
    if let (Some(a), Some(b)) = (fixed_dim(&arg_types[0]), fixed_dim(&arg_types[1]))
        && a != b
    {
        return plan_err!(
            "{function}: dimension mismatch: the first vector has {a} dimensions, \
             the second {b}"
        );
    }
    let any_f32 = arg_types.iter().any(|dt| {
        matches!(
            vector_element(dt),
            Some(DataType::Float32 | DataType::Float16)
        )
    });
    let element = if any_f32 {
        DataType::Float32
    } else {
        DataType::Float64
    };
    Ok(arg_types
        .iter()
        .map(|dt| with_element(dt, &element))
        .collect())
}

/// `dt` with its element type replaced; `LargeList` becomes `List` and a
/// NULL argument becomes a `List` so that the kernel sees two lists.
pub fn with_element(dt: &DataType, element: &DataType) -> DataType {
    let field = Arc::new(Field::new("item", element.clone(), true));
    match dt {
        DataType::FixedSizeList(_, n) => DataType::FixedSizeList(field, *n),
        _ => DataType::List(field),
    }
}

/// The return type of a pairwise vector function: the coerced element type.
pub fn pair_return_type(function: &str, arg_types: &[DataType]) -> Result<DataType> {
    let coerced = coerce_vector_pair(function, arg_types)?;
    Ok(vector_element(&coerced[0])
        .cloned()
        .unwrap_or(DataType::Float64))
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

/// Splits a function's columnar arguments into arrays, remembering which were
/// scalars (to broadcast) and whether the result should be a scalar.
pub fn to_arrays(args: &[ColumnarValue]) -> Result<(Vec<(ArrayRef, bool)>, bool)> {
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = args
        .iter()
        .map(|a| match a {
            ColumnarValue::Array(arr) => Ok((Arc::clone(arr), false)),
            ColumnarValue::Scalar(s) => Ok((s.to_array_of_size(1)?, true)),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, all_scalar))
}

/// Wraps a result array as the function's return value: a scalar when every
/// argument was a scalar.
pub fn finish(result: ArrayRef, all_scalar: bool) -> Result<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}

/// The per-row kernel of a pairwise vector function, generic over the
/// element type; `None` gives a NULL result.
pub trait PairKernel {
    fn eval<T: Element>(a: &[T], b: &[T]) -> Option<T>;
}

/// Evaluates a pairwise vector function over a batch: one pass, no per-row
/// allocation, NULL where either vector is NULL or the kernel gives none.
pub fn eval_pair<K: PairKernel>(
    function: &str,
    args: &[ColumnarValue],
    number_rows: usize,
) -> Result<ColumnarValue> {
    let (arrays, all_scalar) = to_arrays(args)?;
    let rows = if all_scalar { 1 } else { number_rows };
    let element = vector_element(arrays[0].0.data_type()).cloned();
    let result: ArrayRef = match element {
        Some(DataType::Float32) => {
            Arc::new(eval_typed::<f32>(function, &arrays, rows, K::eval::<f32>)?)
        }
        _ => Arc::new(eval_typed::<f64>(function, &arrays, rows, K::eval::<f64>)?),
    };
    finish(result, all_scalar)
}

fn eval_typed<T: Element>(
    function: &str,
    arrays: &[(ArrayRef, bool)],
    rows: usize,
    kernel: fn(&[T], &[T]) -> Option<T>,
) -> Result<datafusion::arrow::array::PrimitiveArray<T::Arrow>> {
    let a = VectorRows::<T>::try_new(function, &arrays[0].0, arrays[0].1)?;
    let b = VectorRows::<T>::try_new(function, &arrays[1].0, arrays[1].1)?;
    let mut out = datafusion::arrow::array::PrimitiveBuilder::<T::Arrow>::with_capacity(rows);
    for i in 0..rows {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => {
                if x.len() != y.len() {
                    return exec_err!(
                        "{function}: dimension mismatch in row {i}: the first vector has {} \
                         dimensions, the second {}",
                        x.len(),
                        y.len()
                    );
                }
                out.append_option(kernel(x, y));
            }
            _ => out.append_null(),
        }
    }
    Ok(out.finish())
}

/// Sums `f(a[i], b[i])` in eight independent lanes so the compiler can keep
/// them in one SIMD register; a single accumulator would serialise the adds.
#[inline]
pub fn lane_sum<T: Element>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    let mut acc = [T::default(); 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for l in 0..8 {
            acc[l] = acc[l] + f(x[l], y[l]);
        }
    }
    let mut total = T::default();
    for v in acc {
        total = total + v;
    }
    for i in chunks * 8..a.len() {
        total = total + f(a[i], b[i]);
    }
    total
}

/// Defines a pairwise vector SQL function: its `ScalarUDFImpl` (signature,
/// coercion, return type, documentation), the singleton `$udf()` and the
/// `Expr` builder `$expr(a, b)`. The kernel is the `PairKernel` impl that the
/// function's own file writes.
#[macro_export]
macro_rules! pair_function {
    ($ty:ident, $sql:literal, $udf:ident, $expr:ident, $doc:expr) => {
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $ty {
            signature: datafusion::logical_expr::Signature,
        }

        impl Default for $ty {
            fn default() -> Self {
                Self {
                    signature: datafusion::logical_expr::Signature::user_defined(
                        datafusion::logical_expr::Volatility::Immutable,
                    ),
                }
            }
        }

        impl datafusion::logical_expr::ScalarUDFImpl for $ty {
            fn name(&self) -> &str {
                $sql
            }

            fn signature(&self) -> &datafusion::logical_expr::Signature {
                &self.signature
            }

            fn coerce_types(
                &self,
                arg_types: &[datafusion::arrow::datatypes::DataType],
            ) -> datafusion::common::Result<Vec<datafusion::arrow::datatypes::DataType>> {
                $crate::functions::vector::coerce_vector_pair($sql, arg_types)
            }

            fn return_type(
                &self,
                arg_types: &[datafusion::arrow::datatypes::DataType],
            ) -> datafusion::common::Result<datafusion::arrow::datatypes::DataType> {
                $crate::functions::vector::pair_return_type($sql, arg_types)
            }

            fn invoke_with_args(
                &self,
                args: datafusion::logical_expr::ScalarFunctionArgs,
            ) -> datafusion::common::Result<datafusion::logical_expr::ColumnarValue> {
                $crate::functions::vector::eval_pair::<$ty>($sql, &args.args, args.number_rows)
            }

            fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
                static DOC: std::sync::LazyLock<datafusion::logical_expr::Documentation> =
                    std::sync::LazyLock::new(|| $doc);
                Some(&DOC)
            }
        }

        #[doc = concat!("The `", $sql, "` function, built once per process.")]
        pub fn $udf() -> std::sync::Arc<datafusion::logical_expr::ScalarUDF> {
            static UDF: std::sync::LazyLock<std::sync::Arc<datafusion::logical_expr::ScalarUDF>> =
                std::sync::LazyLock::new(|| {
                    std::sync::Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
                        $ty::default(),
                    ))
                });
            std::sync::Arc::clone(&UDF)
        }

        #[doc = concat!("`", $sql, "(a, b)` as an expression.")]
        pub fn $expr(
            a: datafusion::logical_expr::Expr,
            b: datafusion::logical_expr::Expr,
        ) -> datafusion::logical_expr::Expr {
            $udf().call(vec![a, b])
        }
    };
}

/// The documentation section every vector function is listed under.
pub const VECTOR_SECTION: datafusion::logical_expr::DocSection =
    datafusion::logical_expr::DocSection {
        include: true,
        label: "Vector functions",
        description: Some(
            "Functions over vectors: `FixedSizeList`, `List` or `LargeList` of numbers. \
         Two vectors are compared in `Float32` when either holds `Float32`, else in \
         `Float64`; the result has that type. NULL in gives NULL out, and so does a \
         vector that holds a NULL element.",
        ),
    };
