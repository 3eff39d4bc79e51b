//! `dot_product(a, b)`: the inner product of two vectors.
//!
//! DataFusion's `inner_product` upcasts to `List<Float64>`; this one keeps
//! `Float32` vectors in `Float32`. See `docs/benchmarks.md`.

use datafusion::logical_expr::Documentation;

use super::VECTOR_SECTION;
use super::vector::{Element, PairKernel, lane_sum};

crate::pair_function!(
    DotProduct,
    "dot_product",
    dot_product_udf,
    dot_product,
    Documentation::builder(
        VECTOR_SECTION,
        "Returns the dot product (inner product) of two vectors of equal dimension: \
         the sum of the products of their components.",
        "dot_product(a, b)",
    )
    .with_argument("a", "First vector: FixedSizeList or List of numbers.")
    .with_argument("b", "Second vector, of the same dimension as `a`.")
    .with_sql_example(
        "```sql\n\
         > SELECT dot_product([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) AS d;\n\
         +------+\n\
         | d    |\n\
         +------+\n\
         | 32.0 |\n\
         +------+\n\
         ```"
    )
    .with_related_udf("cosine_similarity")
    .with_related_udf("l2_distance")
    .build()
);

impl PairKernel for DotProduct {
    fn eval<T: Element>(a: &[T], b: &[T]) -> Option<T> {
        Some(lane_sum(a, b, |x, y| x * y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_products_past_the_lane_width() {
        let a: Vec<f64> = (1..=11).map(f64::from).collect();
        let expected: f64 = a.iter().map(|x| x * x).sum();
        assert_eq!(DotProduct::eval::<f64>(&a, &a), Some(expected));
        assert_eq!(DotProduct::eval::<f32>(&[], &[]), Some(0.0));
    }
}
