//! `cluster_assign(model, vector)`: the nearest centroid of a k-means model
//! and the distance to it, for every row, with the same blocked kernel that
//! trains the model.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float32Array, StructArray, UInt32Array};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::MODEL_SECTION;
use super::model_args::{dim_of, load_pinned, pinned, pinned_field, resolve_first_arg};
use super::vector::{fixed_dim, vector_element};
use crate::models::kmeans::KMeans;
use crate::models::kmeans::kernel::BLOCK;
use crate::store::ModelStore;
use crate::vectors::{VectorColumn, normalize};

/// `cluster_assign(model, vector)`.
#[derive(Debug)]
pub struct ClusterAssign {
    signature: Signature,
    models: Arc<ModelStore>,
}

crate::same_store_identity!(ClusterAssign);

/// The `cluster_assign` function over `models`.
pub fn cluster_assign_udf(models: Arc<ModelStore>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(ClusterAssign {
        signature: Signature::user_defined(Volatility::Immutable),
        models,
    }))
}

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("cluster_id", DataType::UInt32, false),
        Field::new("distance", DataType::Float32, false),
    ])
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Assigns a vector to the nearest centroid of a k-means model. Returns a struct with \
         `cluster_id` (from 0) and `distance`, in the model's metric: Euclidean distance, or \
         1 - cosine similarity for `distance = 'cosine'` models. NULL for a NULL vector or one \
         with a NULL, NaN or infinite component; a vector of another dimension is an error.",
        "cluster_assign(model, vector)",
    )
    .with_argument("model", "Name of a kmeans model, as a string literal.")
    .with_argument(
        "vector",
        "A FixedSizeList or List of numbers, e.g. embed(...).",
    )
    .with_sql_example(
        "```sql\n\
         > SELECT cluster_assign('title_clusters', embed('title_vectors', 'pizza')).cluster_id AS c;\n\
         +---+\n\
         | c |\n\
         +---+\n\
         | 1 |\n\
         +---+\n\
         ```",
    )
    .with_related_udf("model_centroids")
    .build()
});

impl ScalarUDFImpl for ClusterAssign {
    fn name(&self) -> &str {
        "cluster_assign"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [model, vector] = arg_types else {
            return plan_err!(
                "cluster_assign: expected 2 arguments (model, vector), got {}",
                arg_types.len()
            );
        };
        if !matches!(
            model,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            return plan_err!(
                "cluster_assign: argument 1 (model) must be a model name, got {model}"
            );
        }
        let vector = match vector {
            DataType::Null => DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            v if vector_element(v).is_some() => v.clone(),
            other => {
                return plan_err!(
                    "cluster_assign: argument 2 must be a vector (an array of numbers), got {other}"
                );
            }
        };
        Ok(vec![DataType::Utf8, vector])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let manifest = resolve_first_arg(&self.models, "cluster_assign", &args, "kmeans")?;
        let dim = dim_of("cluster_assign", &manifest)?;
        if let Some(n) = args
            .arg_fields
            .get(1)
            .and_then(|f| fixed_dim(f.data_type()))
            && n as usize != dim
        {
            return plan_err!(
                "cluster_assign: the vector has {n} dimensions, model '{}' has {dim}",
                manifest.name
            );
        }
        Ok(Arc::new(pinned_field(
            "cluster_assign",
            DataType::Struct(result_fields()),
            &manifest,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (name, version) = pinned("cluster_assign", &args.return_field)?;
        let model = load_pinned::<KMeans>(&self.models, "cluster_assign", &name, version)?;
        match &args.args[1] {
            ColumnarValue::Array(v) => Ok(ColumnarValue::Array(Arc::new(assign_array(&model, v)?))),
            ColumnarValue::Scalar(s) => {
                let array = assign_array(&model, &s.to_array_of_size(1)?)?;
                Ok(ColumnarValue::Scalar(ScalarValue::Struct(Arc::new(array))))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// Assigns every row of `vectors`: valid rows are packed into blocks and
/// assigned by one matrix product per block.
pub fn assign_array(model: &KMeans, vectors: &ArrayRef) -> Result<StructArray> {
    if let Some(result) = assign_dense(model, vectors)? {
        return Ok(result);
    }
    let column = VectorColumn::try_new(vectors, "cluster_assign")?;
    let column = column.rows("cluster_assign")?;
    let n = column.len();
    let dim = model.dim();
    let cosine = model.centroids.cosine;
    let mut ids = vec![0u32; n];
    let mut distances = vec![0.0f32; n];
    let mut valid = vec![false; n];
    let mut block: Vec<f32> = Vec::with_capacity(BLOCK * dim);
    let mut rows: Vec<usize> = Vec::with_capacity(BLOCK);
    let mut out = vec![(0u32, 0.0f32); BLOCK];
    let mut dots = Vec::new();
    let mut row = vec![0.0f32; dim];
    let mut flush = |block: &mut Vec<f32>, rows: &mut Vec<usize>| {
        let m = rows.len();
        model
            .centroids
            .assign_block(block, &mut out[..m], &mut dots);
        for (&r, &(c, d)) in rows.iter().zip(&out[..m]) {
            ids[r] = c;
            distances[r] = if cosine { d } else { d.sqrt() };
            valid[r] = true;
        }
        block.clear();
        rows.clear();
    };
    for i in 0..n {
        if !column.read_finite(i, &mut row, "cluster_assign")? || (cosine && !normalize(&mut row)) {
            continue;
        }
        block.extend_from_slice(&row);
        rows.push(i);
        if rows.len() == BLOCK {
            flush(&mut block, &mut rows);
        }
    }
    if !rows.is_empty() {
        flush(&mut block, &mut rows);
    }
    Ok(StructArray::try_new(
        result_fields(),
        vec![
            Arc::new(UInt32Array::from(ids)),
            Arc::new(Float32Array::from(distances)),
        ],
        Some(NullBuffer::new(BooleanBuffer::from(valid))),
    )?)
}

/// The common case without copies: a `FixedSizeList<Float32>` of the
/// model's dimension with no NULL and no NaN or infinite component, for a
/// Euclidean model, is assigned straight from the Arrow buffer. `None` when
/// the input is not of that kind.
fn assign_dense(model: &KMeans, vectors: &ArrayRef) -> Result<Option<StructArray>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float32Type;
    let dim = model.dim();
    let DataType::FixedSizeList(item, n) = vectors.data_type() else {
        return Ok(None);
    };
    if model.centroids.cosine
        || *n as usize != dim
        || item.data_type() != &DataType::Float32
        || vectors.null_count() > 0
    {
        return Ok(None);
    }
    let list = vectors.as_fixed_size_list();
    let values = list.values().as_primitive::<Float32Type>();
    if values.null_count() > 0 {
        return Ok(None);
    }
    let rows = list.len();
    let start = list.value_offset(0).max(0) as usize;
    let flat = &values.values()[start..start + rows * dim];
    if !flat.iter().all(|x| x.is_finite()) {
        return Ok(None);
    }
    let mut ids = vec![0u32; rows];
    let mut distances = vec![0.0f32; rows];
    let mut out = vec![(0u32, 0.0f32); BLOCK];
    let mut dots = Vec::new();
    for (b, block) in flat.chunks(BLOCK * dim).enumerate() {
        let m = block.len() / dim;
        model
            .centroids
            .assign_block(block, &mut out[..m], &mut dots);
        for (i, &(c, d)) in out[..m].iter().enumerate() {
            ids[b * BLOCK + i] = c;
            distances[b * BLOCK + i] = d.sqrt();
        }
    }
    Ok(Some(StructArray::try_new(
        result_fields(),
        vec![
            Arc::new(UInt32Array::from(ids)),
            Arc::new(Float32Array::from(distances)),
        ],
        None,
    )?))
}
