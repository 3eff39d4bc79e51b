//! A Parquet file from another writer whose float statistics leave out a
//! NaN (as the format says they must): an external table over it answers as
//! a full read would (see quiver_engine::parquet::nan_safe).

use std::sync::Arc;

use datafusion::arrow::array::{Float32Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use crate::common::{scalar, session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_file_with_a_hidden_nan_loses_no_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scores.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Float32, true),
    ]));
    // Row groups of two: the NaN sits in [0.1, NaN], whose max reads 0.1.
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(vec![0, 1, 2, 3, 4, 5])),
            Arc::new(Float32Array::from(vec![0.5, 0.9, 0.1, f32::NAN, 0.2, 0.3])),
        ],
    )
    .expect("batch");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build();
    let file = std::fs::File::create(&path).expect("create");
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");

    let s = session(&dir.path().join("wh")).await;
    s.sql(&format!(
        "CREATE EXTERNAL TABLE scores STORED AS PARQUET LOCATION '{}'",
        path.display()
    ))
    .await
    .expect("external table");
    let top = "SELECT string_agg(CAST(id AS VARCHAR), ',' ORDER BY id) FROM \
               (SELECT id FROM scores ORDER BY s DESC LIMIT 2)";
    assert_eq!(scalar(&s, top).await, "1,3");
    assert_eq!(
        scalar(&s, "SELECT count(*) FROM scores WHERE s > 0.95").await,
        "1"
    );
    assert_eq!(scalar(&s, "SELECT max(s) FROM scores").await, "NaN");
}
