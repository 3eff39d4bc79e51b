//! Shared handling of vector arguments of functions: how two vector
//! arguments are coerced to one element type, and how a pair kernel runs
//! over them. Reading vector columns is [`crate::vectors`].
//!
//! A vector is a `FixedSizeList`, `List` or `LargeList` of numbers. Two vector
//! arguments are computed in `Float32` when either of them holds `Float32`
//! (so a `Float32` embedding column is never upcast because the other side is
//! a `Float64` literal), and in `Float64` otherwise.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

pub use crate::vectors::{Element, VectorRows, fixed_dim, vector_element};

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
