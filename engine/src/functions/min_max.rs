//! DataFusion's `min` and `max`, with grouped floats answering as ungrouped
//! ones do.
//!
//! DataFusion 55's grouped accumulator for a float column compares with
//! `partial_cmp` and takes the new value whenever the comparison has no
//! answer. A NaN therefore replaces the group's value, and the next number
//! replaces the NaN: `max` is NaN only when a NaN comes last, so the answer
//! changes with the order rows arrive in (partitions, files, a cluster's
//! tasks). It also starts `max` from the smallest finite number, so a group
//! of `-inf` alone gives -1.797e308 (and `min` of `+inf` alone 1.797e308).
//!
//! Here a grouped `min` or `max` of floats orders values as DataFusion's
//! ungrouped one (Arrow's kernel) does, by IEEE total order: NaN is greater
//! than every number, as in DuckDB and PostgreSQL, and the infinities are
//! values like any other. Every other type, and everything else about the
//! functions, is DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::ArrowNativeTypeOp;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, FieldRef, Float16Type, Float32Type, Float64Type,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions_aggregate::min_max::{Max, Min};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, ReversedUDAF,
    SetMonotonicity, Signature, StatisticsArgs,
};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::prim_op::PrimitiveGroupsAccumulator;

/// The names of DataFusion's functions these replace (documented by
/// DataFusion, not in quiver's reference).
pub const REPLACED: [&str; 2] = ["max", "min"];

/// `max` and `min`, in place of DataFusion's.
pub fn min_max_udafs() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::new_from_impl(TotalOrder {
            inner: Extreme::Max(Max::new()),
        })),
        Arc::new(AggregateUDF::new_from_impl(TotalOrder {
            inner: Extreme::Min(Min::new()),
        })),
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum Extreme {
    Max(Max),
    Min(Min),
}

/// DataFusion's `min` or `max` with its grouped float accumulator replaced.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TotalOrder {
    inner: Extreme,
}

impl TotalOrder {
    fn inner(&self) -> &dyn AggregateUDFImpl {
        match &self.inner {
            Extreme::Max(max) => max,
            Extreme::Min(min) => min,
        }
    }
}

/// A grouped `max` (`is_max`) or `min` of `T` in total order.
fn total_order<T>(data_type: &DataType, is_max: bool) -> Box<dyn GroupsAccumulator>
where
    T: ArrowPrimitiveType + Send,
    T::Native: ArrowNativeTypeOp,
{
    if is_max {
        Box::new(
            PrimitiveGroupsAccumulator::<T, _>::new(data_type, |cur, new| {
                if new.is_gt(*cur) {
                    *cur = new;
                }
            })
            .with_starting_value(T::Native::MIN_TOTAL_ORDER),
        )
    } else {
        Box::new(
            PrimitiveGroupsAccumulator::<T, _>::new(data_type, |cur, new| {
                if new.is_lt(*cur) {
                    *cur = new;
                }
            })
            .with_starting_value(T::Native::MAX_TOTAL_ORDER),
        )
    }
}

impl AggregateUDFImpl for TotalOrder {
    fn name(&self) -> &str {
        self.inner().name()
    }

    fn signature(&self) -> &Signature {
        self.inner().signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner().return_type(arg_types)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner().accumulator(acc_args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let is_max = matches!(self.inner, Extreme::Max(_));
        let data_type = args.return_field.data_type();
        Ok(match data_type {
            DataType::Float16 => total_order::<Float16Type>(data_type, is_max),
            DataType::Float32 => total_order::<Float32Type>(data_type, is_max),
            DataType::Float64 => total_order::<Float64Type>(data_type, is_max),
            _ => return self.inner().create_groups_accumulator(args),
        })
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner().create_sliding_accumulator(args)
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner().is_descending()
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner().order_sensitivity()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner().coerce_types(arg_types)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        self.inner().reverse_expr()
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        self.inner().value_from_stats(statistics_args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner().documentation()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner().set_monotonicity(data_type)
    }
}
