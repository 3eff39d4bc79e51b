//! `cosine_similarity(a, b)`: the cosine of the angle between two vectors.
//!
//! DataFusion ships `cosine_distance`, but it casts every argument to
//! `List<Float64>` (a copy and an upcast per row); this one reads
//! `FixedSizeList<Float32>` in place. See `docs/benchmarks.md`.

use datafusion::logical_expr::Documentation;

use super::VECTOR_SECTION;
use super::vector::{Element, PairKernel, lane_sum};

crate::pair_function!(
    CosineSimilarity,
    "cosine_similarity",
    cosine_similarity_udf,
    cosine_similarity,
    Documentation::builder(
        VECTOR_SECTION,
        "Returns the cosine similarity of two vectors of equal dimension: their dot \
         product divided by the product of their lengths, from -1 to 1. NULL when \
         either vector is NULL or has length zero.",
        "cosine_similarity(a, b)",
    )
    .with_argument("a", "First vector: FixedSizeList or List of numbers.")
    .with_argument("b", "Second vector, of the same dimension as `a`.")
    .with_sql_example(
        "```sql\n\
         > SELECT cosine_similarity([1.0, 0.0], [1.0, 1.0]) AS s;\n\
         +--------------------+\n\
         | s                  |\n\
         +--------------------+\n\
         | 0.7071067811865475 |\n\
         +--------------------+\n\
         ```"
    )
    .with_related_udf("dot_product")
    .with_related_udf("l2_distance")
    .build()
);

impl PairKernel for CosineSimilarity {
    fn eval<T: Element>(a: &[T], b: &[T]) -> Option<T> {
        let dot = lane_sum(a, b, |x, y| x * y);
        let na = lane_sum(a, a, |x, y| x * y);
        let nb = lane_sum(b, b, |x, y| x * y);
        let denom = (na * nb).sqrt();
        (denom > T::default()).then(|| dot / denom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_parallel_and_zero() {
        assert_eq!(
            CosineSimilarity::eval::<f64>(&[1.0, 0.0], &[0.0, 2.0]),
            Some(0.0)
        );
        assert_eq!(
            CosineSimilarity::eval::<f64>(&[1.0, 2.0], &[2.0, 4.0]),
            Some(1.0)
        );
        assert_eq!(
            CosineSimilarity::eval::<f64>(&[0.0, 0.0], &[1.0, 1.0]),
            None
        );
        let s = CosineSimilarity::eval::<f32>(&[1.0; 19], &[-1.0; 19]).expect("non-zero");
        assert!((s + 1.0).abs() < 1e-6);
    }
}
