//! `l2_distance(a, b)`: the Euclidean distance between two vectors.
//!
//! DataFusion's `array_distance` upcasts to `List<Float64>`; this one keeps
//! `Float32` vectors in `Float32`. See `docs/benchmarks.md`.

use datafusion::logical_expr::Documentation;

use super::VECTOR_SECTION;
use super::vector::{Element, PairKernel, lane_sum};

crate::pair_function!(
    L2Distance,
    "l2_distance",
    l2_distance_udf,
    l2_distance,
    Documentation::builder(
        VECTOR_SECTION,
        "Returns the Euclidean (L2) distance between two vectors of equal dimension.",
        "l2_distance(a, b)",
    )
    .with_argument("a", "First vector: FixedSizeList or List of numbers.")
    .with_argument("b", "Second vector, of the same dimension as `a`.")
    .with_sql_example(
        "```sql\n\
         > SELECT l2_distance([0.0, 0.0], [3.0, 4.0]) AS d;\n\
         +-----+\n\
         | d   |\n\
         +-----+\n\
         | 5.0 |\n\
         +-----+\n\
         ```"
    )
    .with_related_udf("cosine_similarity")
    .with_related_udf("dot_product")
    .build()
);

impl PairKernel for L2Distance {
    fn eval<T: Element>(a: &[T], b: &[T]) -> Option<T> {
        Some(lane_sum(a, b, |x, y| (x - y) * (x - y)).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_four_five() {
        assert_eq!(L2Distance::eval::<f64>(&[0.0, 0.0], &[3.0, 4.0]), Some(5.0));
        assert_eq!(L2Distance::eval::<f32>(&[1.0; 9], &[1.0; 9]), Some(0.0));
    }
}
