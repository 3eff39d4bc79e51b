//! `vector_avg(vector)`: the element-wise mean of the vectors of a group.
//!
//! This is what makes one Lloyd step of k-means plain SQL over the data
//! (`GROUP BY cluster_assign(m, v).cluster_id`), and so distributable: each
//! partition keeps per-group sums and counts (the same partial sums the
//! trainer's kernel adds up), and the final phase divides.
//!
//! Sums are kept in `f64` whatever the input, so the mean of millions of
//! `Float32` vectors does not drift with the order of the rows.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, ListArray, PrimitiveArray, UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    Signature, Volatility,
};

use super::VECTOR_SECTION;
use super::vector::{Element, VectorRows, vector_element, with_element};

const NAME: &str = "vector_avg";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct VectorAvg {
    signature: Signature,
}

impl Default for VectorAvg {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The element type the mean is returned in: `Float32` for `Float32` (or
/// `Float16`) vectors, `Float64` otherwise.
fn output_element(input: &DataType) -> DataType {
    match vector_element(input) {
        Some(DataType::Float32 | DataType::Float16) => DataType::Float32,
        _ => DataType::Float64,
    }
}

impl AggregateUDFImpl for VectorAvg {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [dt] = arg_types else {
            return plan_err!(
                "{NAME}: expected 1 argument (a vector), got {}",
                arg_types.len()
            );
        };
        if !dt.is_null() && vector_element(dt).is_none() {
            return plan_err!(
                "{NAME}: the argument must be a vector (an array of numbers, e.g. \
                 FixedSizeList<Float32, n>), got {dt}"
            );
        }
        Ok(vec![with_element(dt, &output_element(dt))])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = Arc::new(Field::new("item", DataType::Float64, true));
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[sum]", args.name),
                DataType::List(item),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[count]", args.name),
                DataType::UInt64,
                false,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(Sums::new(
            args.return_field.data_type(),
        ))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Sums::new(args.return_field.data_type())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                VECTOR_SECTION,
                "Aggregate: the element-wise mean of the vectors in a group, summed in \
                 Float64 and returned in the input's element type (Float32 stays \
                 Float32). NULL vectors and vectors holding a NULL element are skipped; \
                 a group with none left gives NULL. NaN components propagate, as in \
                 `avg`. All vectors of a group must have one dimension. One Lloyd step \
                 of k-means is `vector_avg(v)` grouped by `cluster_assign(model, \
                 v).cluster_id` (for `distance = 'cosine'`, of the normalized vectors, \
                 normalized again).",
                "vector_avg(vector)",
            )
            .with_argument(
                "vector",
                "A vector column: FixedSizeList or List of numbers.",
            )
            .with_sql_example(
                "```sql\n\
                 > SELECT vector_avg(v) AS mean FROM (VALUES ([1.0, 2.0]), ([3.0, 4.0])) AS t(v);\n\
                 +------------+\n\
                 | mean       |\n\
                 +------------+\n\
                 | [2.0, 3.0] |\n\
                 +------------+\n\
                 ```",
            )
            .with_related_udf("cluster_assign")
            .build()
        });
        Some(&DOC)
    }
}

/// The `vector_avg` aggregate, built once per process.
pub fn vector_avg_udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::new_from_impl(VectorAvg::default())));
    Arc::clone(&UDAF)
}

/// Per-group `f64` sums and counts. The dimension is fixed by the first
/// vector seen (or the type, for `FixedSizeList`).
#[derive(Debug, Clone)]
struct Sums {
    output: DataType,
    dim: Option<usize>,
    sums: Vec<f64>,
    counts: Vec<u64>,
}

impl Sums {
    fn new(output: &DataType) -> Self {
        let dim = match output {
            DataType::FixedSizeList(_, n) => Some(*n as usize),
            _ => None,
        };
        Self {
            output: output.clone(),
            dim,
            sums: Vec::new(),
            counts: Vec::new(),
        }
    }

    fn resize(&mut self, groups: usize) {
        self.counts.resize(groups, 0);
        if let Some(dim) = self.dim {
            self.sums.resize(groups * dim, 0.0);
        }
    }

    /// Adds `vector` into `group`, checking its dimension.
    #[inline]
    fn add<T: Element + Into<f64>>(
        &mut self,
        group: usize,
        vector: &[T],
        count: u64,
    ) -> Result<()> {
        let dim = match self.dim {
            Some(d) => d,
            None => {
                self.dim = Some(vector.len());
                self.sums.resize(self.counts.len() * vector.len(), 0.0);
                vector.len()
            }
        };
        if vector.len() != dim {
            return exec_err!(
                "{NAME}: dimension mismatch: a group holds vectors of {dim} and of {} dimensions",
                vector.len()
            );
        }
        self.counts[group] += count;
        for (s, v) in self.sums[group * dim..(group + 1) * dim]
            .iter_mut()
            .zip(vector)
        {
            *s += (*v).into();
        }
        Ok(())
    }

    fn update_typed<T: Element + Into<f64>>(
        &mut self,
        array: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let rows = VectorRows::<T>::try_new(NAME, array, false)?;
        for (i, &group) in group_indices.iter().enumerate() {
            if filter.is_some_and(|f| !f.is_valid(i) || !f.value(i)) {
                continue;
            }
            if let Some(v) = rows.get(i) {
                self.add(group, v, 1)?;
            }
        }
        Ok(())
    }

    fn update(
        &mut self,
        array: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        groups: usize,
    ) -> Result<()> {
        self.resize(groups);
        match vector_element(array.data_type()) {
            Some(DataType::Float32) => self.update_typed::<f32>(array, group_indices, filter),
            Some(DataType::Float64) => self.update_typed::<f64>(array, group_indices, filter),
            // An all-NULL argument.
            _ => Ok(()),
        }
    }

    fn merge(&mut self, states: &[ArrayRef], group_indices: &[usize], groups: usize) -> Result<()> {
        self.resize(groups);
        let sums = VectorRows::<f64>::try_new(NAME, &states[0], false)?;
        let Some(counts) = states[1].as_any().downcast_ref::<UInt64Array>() else {
            return exec_err!("{NAME}: expected a UInt64 count state");
        };
        for (i, &group) in group_indices.iter().enumerate() {
            if let Some(v) = sums.get(i) {
                self.add(group, v, counts.value(i))?;
            }
        }
        Ok(())
    }

    /// Takes the first groups out (all of them, or the first `n`).
    fn take(&mut self, emit_to: EmitTo) -> (Vec<f64>, Vec<u64>, usize) {
        let counts = emit_to.take_needed(&mut self.counts);
        let dim = self.dim.unwrap_or(0);
        let sums = match emit_to {
            EmitTo::All => std::mem::take(&mut self.sums),
            EmitTo::First(n) => {
                let rest = self.sums.split_off(n * dim);
                std::mem::replace(&mut self.sums, rest)
            }
        };
        (sums, counts, dim)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (sums, counts, dim) = self.take(emit_to);
        let means = sums
            .chunks(dim.max(1))
            .zip(&counts)
            .flat_map(|(s, &c)| s.iter().map(move |v| v / c.max(1) as f64));
        let nulls = NullBuffer::from(counts.iter().map(|&c| c > 0).collect::<Vec<_>>());
        let values: ArrayRef = match output_element(&self.output) {
            DataType::Float32 => Arc::new(PrimitiveArray::<
                datafusion::arrow::datatypes::Float32Type,
            >::from_iter_values(means.map(|v| v as f32))),
            _ => Arc::new(PrimitiveArray::<Float64Type>::from_iter_values(means)),
        };
        vectors(&self.output, values, dim, counts.len(), Some(nulls))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (sums, counts, dim) = self.take(emit_to);
        let nulls = NullBuffer::from(counts.iter().map(|&c| c > 0).collect::<Vec<_>>());
        let item = Arc::new(Field::new("item", DataType::Float64, true));
        let values = Arc::new(PrimitiveArray::<Float64Type>::from(sums));
        let sums = vectors(
            &DataType::List(item),
            values,
            dim,
            counts.len(),
            Some(nulls),
        )?;
        Ok(vec![sums, Arc::new(UInt64Array::from(counts))])
    }
}

/// `rows` vectors of `dim` values each, as `FixedSizeList` or `List` per `ty`.
fn vectors(
    ty: &DataType,
    values: ArrayRef,
    dim: usize,
    rows: usize,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef> {
    let field = Arc::new(Field::new("item", values.data_type().clone(), true));
    Ok(match ty {
        DataType::FixedSizeList(_, n) => {
            Arc::new(FixedSizeListArray::try_new(field, *n, values, nulls)?)
        }
        _ => {
            let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(dim, rows));
            Arc::new(ListArray::try_new(field, offsets, values, nulls)?)
        }
    })
}

impl GroupsAccumulator for Sums {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.update(&values[0], group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Sums::evaluate(self, emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Sums::state(self, emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.merge(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Every row its own group.
        let mut one = Sums::new(&self.output);
        let groups: Vec<usize> = (0..values[0].len()).collect();
        one.update(&values[0], &groups, opt_filter, groups.len())?;
        if one.dim.is_none() {
            one.dim = Some(0);
        }
        one.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        self.sums.capacity() * 8 + self.counts.capacity() * 8 + size_of::<Self>()
    }
}

/// The ungrouped form: one group.
#[derive(Debug)]
struct SingleGroup(Sums);

impl Accumulator for SingleGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values[0].len()];
        self.0.update(&values[0], &groups, None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states[0].len()];
        self.0.merge(states, &groups, 1)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut sums = self.0.clone();
        sums.resize(1);
        sums.state(EmitTo::All)?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut sums = self.0.clone();
        sums.resize(1);
        let mean = sums.evaluate(EmitTo::All)?;
        ScalarValue::try_from_array(&mean, 0)
    }

    fn size(&self) -> usize {
        GroupsAccumulator::size(&self.0)
    }
}
