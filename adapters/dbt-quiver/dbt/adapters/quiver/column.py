"""Columns as quiver names their types.

quiver's columns are Arrow columns; dbt wants SQL type names it can put back
into `ALTER TABLE ... ADD COLUMN` or `CAST`. `sql_type` maps the Arrow type of
a relation's schema to the SQL name that makes the same Arrow type again.
"""

import re
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional

import pyarrow as pa
from dbt.adapters.base.column import Column


@dataclass
class QuiverColumn(Column):
    TYPE_LABELS: ClassVar[Dict[str, str]] = {
        "STRING": "VARCHAR",
        "TEXT": "VARCHAR",
        "TIMESTAMP": "TIMESTAMP",
        "FLOAT": "DOUBLE",
        "INTEGER": "BIGINT",
    }

    @classmethod
    def string_type(cls, size: int) -> str:
        # Arrow strings have no length; a length would only be ignored.
        return "VARCHAR"

    def is_string(self) -> bool:
        return self.dtype.lower() in {"varchar", "text", "string", "char", "character varying"}

    def is_integer(self) -> bool:
        return self.dtype.lower() in {
            "tinyint",
            "smallint",
            "int",
            "integer",
            "bigint",
            "tinyint unsigned",
            "smallint unsigned",
            "int unsigned",
            "bigint unsigned",
        }

    def is_float(self) -> bool:
        return self.dtype.lower() in {"real", "float", "double"}

    def is_numeric(self) -> bool:
        return self.dtype.lower().startswith("decimal")

    @property
    def data_type(self) -> str:
        return self.dtype

    @classmethod
    def from_arrow(cls, field: pa.Field) -> "QuiverColumn":
        return cls(field.name, sql_type(field.type))


_SIMPLE = {
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.uint8(): "TINYINT UNSIGNED",
    pa.uint16(): "SMALLINT UNSIGNED",
    pa.uint32(): "INT UNSIGNED",
    pa.uint64(): "BIGINT UNSIGNED",
    pa.float16(): "REAL",
    pa.float32(): "REAL",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.string_view(): "VARCHAR",
    pa.binary(): "BYTEA",
    pa.large_binary(): "BYTEA",
    pa.date32(): "DATE",
    pa.date64(): "DATE",
}


def sql_type(t: pa.DataType) -> str:
    """The SQL type name quiver reads back as Arrow type `t`."""
    if t in _SIMPLE:
        return _SIMPLE[t]
    if pa.types.is_timestamp(t):
        return "TIMESTAMP WITH TIME ZONE" if t.tz else "TIMESTAMP"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_interval(t) or pa.types.is_duration(t):
        return "INTERVAL"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"{sql_type(t.value_type)}[]"
    # Structs, maps and the rest keep Arrow's own name: dbt only shows it.
    return str(t)


# DataFusion's names of Arrow types (information_schema.columns.data_type).
_DATAFUSION_NAMES = {
    "Boolean": pa.bool_(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Float16": pa.float16(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Utf8": pa.string(),
    "LargeUtf8": pa.large_string(),
    "Utf8View": pa.string_view(),
    "Binary": pa.binary(),
    "LargeBinary": pa.large_binary(),
    "BinaryView": pa.binary(),
    "Date32": pa.date32(),
    "Date64": pa.date64(),
}


def sql_type_from_arrow_name(name: Optional[str]) -> Optional[str]:
    """information_schema.columns.data_type (DataFusion's name of the Arrow
    type) as the SQL name `sql_type` gives the same column."""
    if name is None:
        return None
    if name in _DATAFUSION_NAMES:
        return sql_type(_DATAFUSION_NAMES[name])
    if name.startswith("Timestamp("):
        return sql_type(pa.timestamp("us", tz="UTC" if "," in name else None))
    m = re.fullmatch(r"Decimal(?:32|64|128|256)\((\d+), *(-?\d+)\)", name)
    if m:
        return sql_type(pa.decimal128(int(m.group(1)), int(m.group(2))))
    if name.startswith("Time"):
        return "TIME"
    return name
