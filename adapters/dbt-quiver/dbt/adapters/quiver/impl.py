"""The quiver adapter: what dbt asks of a warehouse, in quiver's terms."""

import re
from decimal import Decimal
from typing import Any, List, Optional

import pyarrow as pa
from dbt.adapters.base.meta import available
from dbt.adapters.sql import SQLAdapter
from dbt_common.exceptions import CompilationError, DbtRuntimeError

from dbt.adapters.quiver.column import QuiverColumn, sql_type_from_arrow_name
from dbt.adapters.quiver.connections import QuiverConnectionManager, quiver_message
from dbt.adapters.quiver.relation import QuiverRelation

# What CREATE MODEL accepts (docs/models.md); anything else is a compile
# error naming it, before the server is asked.
MODEL_TYPES = ("word2vec", "kmeans", "tagger")


class QuiverAdapter(SQLAdapter):
    ConnectionManager = QuiverConnectionManager
    Relation = QuiverRelation
    Column = QuiverColumn

    @classmethod
    def date_function(cls) -> str:
        return "now()"

    @classmethod
    def is_cancelable(cls) -> bool:
        return True

    def valid_incremental_strategies(self):
        return ["append", "delete+insert", "merge"]

    @classmethod
    def convert_text_type(cls, agate_table, col_idx: int) -> str:
        return "VARCHAR"

    @classmethod
    def convert_number_type(cls, agate_table, col_idx: int) -> str:
        import agate

        decimals = agate_table.aggregate(agate.MaxPrecision(col_idx))
        return "DOUBLE" if decimals else "BIGINT"

    @classmethod
    def convert_integer_type(cls, agate_table, col_idx: int) -> str:
        return "BIGINT"

    @classmethod
    def convert_boolean_type(cls, agate_table, col_idx: int) -> str:
        return "BOOLEAN"

    @classmethod
    def convert_datetime_type(cls, agate_table, col_idx: int) -> str:
        return "TIMESTAMP"

    @classmethod
    def convert_date_type(cls, agate_table, col_idx: int) -> str:
        return "DATE"

    @classmethod
    def convert_time_type(cls, agate_table, col_idx: int) -> str:
        return "TIME"

    @classmethod
    def quote(cls, identifier: str) -> str:
        return '"{}"'.format(identifier.replace('"', '""'))

    def _arrow_schema(self, relation) -> Optional[pa.Schema]:
        """The relation's columns as Arrow sees them, or None if it is not
        there. One `LIMIT 0` query: no rows move."""
        connection = self.connections.get_thread_connection()
        cursor = connection.handle.cursor()
        try:
            cursor.execute(f"SELECT * FROM {relation.render()} LIMIT 0")
            return cursor.fetch_arrow_table().schema
        except Exception as e:
            # Absent only when the relation itself is what was not found:
            # a view whose table is gone is NOT_FOUND too, and an error.
            if f"table 'quiver.{relation.schema}.{relation.identifier}' not found" in str(e):
                return None
            raise DbtRuntimeError(f"columns of {relation.render()}: {quiver_message(e)}") from e
        finally:
            cursor.close()

    def get_columns_in_relation(self, relation) -> List[QuiverColumn]:
        schema = self._arrow_schema(relation)
        if schema is None:
            return []
        return [QuiverColumn.from_arrow(f) for f in schema]

    def _as_known(self, relation):
        """`relation` with the type the cache knows it by: dbt may pass a
        view typed as a table (a model that was a view and is now
        incremental), and quiver renames and drops views with ALTER VIEW and
        DROP VIEW."""
        known = self.get_relation(relation.database, relation.schema, relation.identifier)
        if known is not None and known.type is not None and known.type != relation.type:
            return relation.incorporate(type=known.type)
        return relation

    @available.parse_none
    def rename_relation(self, from_relation, to_relation):
        super().rename_relation(self._as_known(from_relation), to_relation)

    @available.parse_none
    def drop_relation(self, relation):
        super().drop_relation(self._as_known(relation))

    @available
    def remember_temporary(self, relation) -> str:
        """A temporary relation lives as a table until the node's connection
        closes (connections.py says why)."""
        self.connections.remember_temporary(relation.render())
        return ""

    @available
    def load_seed(self, relation, agate_table) -> int:
        """A seed's rows into its table through `adbc_ingest`: one Arrow
        stream, typed as the table's columns (dbt's inference or the seed's
        `column_types`), NULLs kept."""
        schema = self._arrow_schema(relation)
        if schema is None:
            raise DbtRuntimeError(f"seed table {relation.render()} was not created")
        if len(agate_table.rows) == 0:
            return 0
        by_name = {f.name: f for f in schema}
        arrays, fields = [], []
        for idx, name in enumerate(agate_table.column_names):
            target = by_name.get(name) or by_name.get(str(name).lower())
            if target is None:
                raise DbtRuntimeError(f"seed {relation.render()}: no column '{name}' in its table")
            values = [row[idx] for row in agate_table.rows]
            arrays.append(_seed_array(values, target.type, f"{relation.render()}.{name}"))
            fields.append(pa.field(target.name, target.type))
        data = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
        connection = self.connections.get_thread_connection()
        cursor = connection.handle.cursor()
        try:
            with self.connections.exception_handler(f"adbc_ingest into {relation.render()}"):
                return cursor.adbc_ingest(
                    relation.identifier, data, mode="append", db_schema_name=relation.schema
                )
        finally:
            cursor.close()

    @available
    def model_statement(self, relation, model_type: Any, options: Any, sql: str) -> str:
        """`CREATE OR REPLACE MODEL` for a `quiver_model` node, its config
        checked here so that a typo is a compile error naming the node."""
        if model_type is None:
            raise CompilationError(
                f"{relation.identifier}: a quiver_model needs model_type "
                f"(one of {', '.join(MODEL_TYPES)})"
            )
        if str(model_type).lower() not in MODEL_TYPES:
            raise CompilationError(
                f"{relation.identifier}: model_type '{model_type}' is not one of "
                f"{', '.join(MODEL_TYPES)}"
            )
        options = options or {}
        if not isinstance(options, dict):
            raise CompilationError(
                f"{relation.identifier}: options must be a dict of the model's OPTIONS, "
                f"got {type(options).__name__}"
            )
        rendered = []
        for key, value in options.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
                raise CompilationError(f"{relation.identifier}: option name '{key}' is not a name")
            rendered.append(f"{key} = {_option_literal(relation.identifier, key, value)}")
        name = self._model_name(relation)
        text = f"CREATE OR REPLACE MODEL {name} TYPE {str(model_type).lower()}"
        if rendered:
            text += f" OPTIONS ({', '.join(rendered)})"
        if sql and sql.strip():
            text += f" AS {sql}"
        return text

    @available
    def model_name(self, relation) -> str:
        """How SQL names the model of a `quiver_model` node, for embed(),
        cluster_assign(), tag() and a tagger's options: `ref()` renders it."""
        return self._model_name(relation)

    @staticmethod
    def _model_name(relation) -> str:
        # Models live in one namespace per warehouse, not per schema; the
        # node's alias is the model's name.
        return relation.identifier

    @classmethod
    def _catalog_filter_table(cls, table, used_schemas):
        from dbt_common.clients.agate_helper import table_from_rows

        type_index = table.column_names.index("column_type")
        rows = []
        for row in table.rows:
            row = list(row)
            row[type_index] = sql_type_from_arrow_name(row[type_index])
            rows.append(row)
        table = table_from_rows(rows, table.column_names)
        return super()._catalog_filter_table(table, used_schemas)


def _option_literal(node: str, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise CompilationError(
        f"{node}: option {key} = {value!r}: a model option is a number, a string or a boolean"
    )


def _seed_array(values: list, target: pa.DataType, where: str) -> pa.Array:
    if pa.types.is_integer(target):
        values = [None if v is None else int(v) for v in values]
    elif pa.types.is_floating(target):
        values = [None if v is None else float(v) for v in values]
    elif pa.types.is_string(target) or pa.types.is_large_string(target):
        values = [None if v is None else _seed_text(v) for v in values]
    elif pa.types.is_decimal(target):
        values = [None if v is None else Decimal(str(v)) for v in values]
    try:
        return pa.array(values).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError) as e:
        raise DbtRuntimeError(f"seed column {where}: its values are not {target}: {e}")


def _seed_text(v: Any) -> str:
    # agate parsed the CSV; a text column overridden onto a number keeps
    # the number's text without a trailing ".0".
    if isinstance(v, Decimal) and v == v.to_integral_value():
        return str(v.to_integral_value())
    return str(v)
