"""Connections to `quiver serve` over Arrow Flight SQL (the ADBC driver).

A profile names either a running server (`host`, `port`, credentials, `tls`)
or a warehouse (`warehouse: ./wh` or `s3://bucket/wh`), in which case the
adapter starts `quiver serve` on a free loopback port itself (local_server.py)
and stops it when dbt exits.

quiver has no transactions: each statement commits on its own (a Delta
commit), so BEGIN and COMMIT are no-ops. The server plans every request in a
fresh session, so a `temporary` table would vanish after the statement that
made it; the adapter makes dbt's temporary relations ordinary tables in the
model's schema and drops them when the node's connection closes
(`QuiverHandle.close`), which is the lifetime dbt expects of them.
"""

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import dbt_common.exceptions
from dbt.adapters.contracts.connection import (
    AdapterResponse,
    Connection,
    ConnectionState,
    Credentials,
)
from dbt.adapters.events.logging import AdapterLogger
from dbt.adapters.exceptions import FailedToConnectError
from dbt.adapters.sql import SQLConnectionManager

from dbt.adapters.quiver import local_server

logger = AdapterLogger("quiver")

_OPENING = threading.Lock()


@dataclass
class QuiverCredentials(Credentials):
    """The `type: quiver` profile.

    Either `host` (a running `quiver serve`) or `warehouse` (start one).
    `database` is quiver's catalog, always `quiver`.
    """

    database: str = "quiver"
    schema: str = "public"
    host: Optional[str] = None
    port: int = 50051
    token: Optional[str] = None
    user: Optional[str] = None
    password: Optional[str] = None
    tls: bool = False
    tls_root_certs: Optional[str] = None
    warehouse: Optional[str] = None
    # Extra arguments for the local server (`--memory-limit 8GiB`, ...).
    server_args: List[str] = field(default_factory=list)

    _ALIASES = {"username": "user", "pass": "password", "catalog": "database"}

    @property
    def type(self) -> str:
        return "quiver"

    @property
    def unique_field(self) -> str:
        return self.host or self.warehouse or ""

    def _connection_keys(self):
        return ("host", "port", "warehouse", "database", "schema", "user", "tls")

    def __post_init__(self):
        if self.database != "quiver":
            raise dbt_common.exceptions.DbtRuntimeError(
                f"quiver profile: database must be 'quiver' (the server's one catalog), "
                f"not '{self.database}'"
            )
        if bool(self.host) == bool(self.warehouse):
            raise dbt_common.exceptions.DbtRuntimeError(
                "quiver profile: set exactly one of `host` (a running quiver serve) "
                "and `warehouse` (the adapter starts quiver serve on it)"
            )
        if self.token and self.user:
            raise dbt_common.exceptions.DbtRuntimeError(
                "quiver profile: set `token` or `user`/`password`, not both"
            )

    def uri(self) -> str:
        if self.warehouse:
            return local_server.uri_for(self.warehouse, self.server_args)
        scheme = "grpc+tls" if self.tls else "grpc"
        return f"{scheme}://{self.host}:{self.port}"

    def db_kwargs(self) -> dict:
        kwargs = {}
        if self.token:
            kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {self.token}"
        if self.user:
            kwargs["username"] = self.user
            kwargs["password"] = self.password or ""
        if self.tls_root_certs:
            with open(self.tls_root_certs) as f:
                kwargs["adbc.flight.sql.client_option.tls_root_certs"] = f.read()
        return kwargs


class QuiverHandle:
    """An ADBC connection, plus the temporary relations made through it."""

    def __init__(self, conn):
        self.conn = conn
        self.temp_relations: List[str] = []

    def cursor(self):
        return self.conn.cursor()

    def commit(self):
        pass

    def rollback(self):
        pass

    def close(self):
        try:
            for relation in self.temp_relations:
                cursor = self.conn.cursor()
                try:
                    cursor.execute(f"DROP TABLE IF EXISTS {relation}")
                    cursor.fetchall()
                except Exception as e:  # the node's result stands; say what is left
                    logger.warning(f"could not drop temporary table {relation}: {e}")
                finally:
                    cursor.close()
        finally:
            self.temp_relations.clear()
            self.conn.close()


class QuiverConnectionManager(SQLConnectionManager):
    TYPE = "quiver"

    @classmethod
    def open(cls, connection: Connection) -> Connection:
        if connection.state == ConnectionState.OPEN:
            return connection
        credentials: QuiverCredentials = connection.credentials
        try:
            # One connection opens at a time: the driver aborted the process
            # (SIGABRT in adbc_get_info) when dbt's threads opened theirs at
            # once, 1 run in 5 here. Opening is once per node, so the wait
            # costs little.
            with _OPENING:
                conn = flight_sql.connect(
                    credentials.uri(), db_kwargs=credentials.db_kwargs(), autocommit=True
                )
                # A connection is lazy; ask the server something so a wrong
                # address or password fails here, naming the profile.
                conn.adbc_get_info()
        except Exception as e:
            connection.handle = None
            connection.state = ConnectionState.FAIL
            raise FailedToConnectError(f"could not connect to quiver at {credentials.uri()}: {e}")
        connection.handle = QuiverHandle(conn)
        connection.state = ConnectionState.OPEN
        return connection

    def add_begin_query(self):
        """No-op: each quiver statement commits on its own."""

    def add_commit_query(self):
        """No-op: each quiver statement commits on its own."""

    def add_query(self, sql: str, auto_begin: bool = True, bindings=None, abridge_sql_log=False, **kwargs):
        """Runs `sql` one statement at a time: a Flight SQL request holds one
        statement, and dbt's macros may join several with `;` (delete+insert
        is `delete ...; insert ...`). Each commits on its own; the cursor of
        the last is returned."""
        import sqlparse

        statements = [
            piece
            for piece in sqlparse.split(sql)
            if sqlparse.format(piece, strip_comments=True).strip().strip(";").strip()
        ]
        if bindings is not None or len(statements) <= 1:
            return super().add_query(sql, auto_begin, bindings, abridge_sql_log, **kwargs)
        for statement in statements[:-1]:
            _, cursor = super().add_query(statement, auto_begin, None, abridge_sql_log, **kwargs)
            try:
                cursor.fetchall()
            finally:
                cursor.close()
        return super().add_query(statements[-1], auto_begin, None, abridge_sql_log, **kwargs)

    @classmethod
    def data_type_code_to_name(cls, type_code) -> str:
        """ADBC describes a result's columns with their Arrow types."""
        from dbt.adapters.quiver.column import sql_type

        return sql_type(type_code)

    def cancel(self, connection: Connection):
        if connection.handle is not None:
            connection.handle.conn.adbc_cancel()

    @classmethod
    def get_response(cls, cursor) -> AdapterResponse:
        rows = getattr(cursor, "rowcount", -1)
        return AdapterResponse(_message="OK", rows_affected=rows if rows and rows > 0 else None)

    def execute(
        self, sql: str, auto_begin: bool = False, fetch: bool = False, limit: Optional[int] = None
    ) -> Tuple[AdapterResponse, Any]:
        from dbt_common.clients.agate_helper import empty_table

        sql = self._add_query_comment(sql)
        _, cursor = self.add_query(sql, auto_begin)
        try:
            if fetch:
                table = self.get_result_from_cursor(cursor, limit)
            else:
                # Drain the result: a statement's effect is certain once its
                # ticket has been read.
                cursor.fetchall()
                table = empty_table()
            return self.get_response(cursor), table
        finally:
            cursor.close()

    @classmethod
    def get_result_from_cursor(cls, cursor, limit: Optional[int]):
        """The rows as agate wants them, read as one Arrow table.
        Nanosecond timestamps (quiver's TIMESTAMP) are cut to microseconds,
        the finest Python's datetime holds."""
        from dbt_common.clients.agate_helper import table_from_data_flat

        table = cursor.fetch_arrow_table()
        if limit is not None:
            table = table.slice(0, limit)
        table = python_friendly(table)
        names = table.column_names
        rows = list(zip(*(column.to_pylist() for column in table.columns))) if names else []
        return table_from_data_flat(cls.process_results(names, rows), names)

    def remember_temporary(self, relation: str):
        handle = self.get_thread_connection().handle
        if relation not in handle.temp_relations:
            handle.temp_relations.append(relation)

    @contextmanager
    def exception_handler(self, sql: str):
        try:
            yield
        except dbt_common.exceptions.DbtRuntimeError:
            raise
        except Exception as e:
            logger.debug(f"quiver error: {e}")
            logger.debug(f"on SQL: {sql}")
            raise dbt_common.exceptions.DbtDatabaseError(quiver_message(e)) from e


def python_friendly(table: pa.Table) -> pa.Table:
    """`table` with nanosecond timestamps and durations as microseconds."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us", tz=t.tz)
        elif pa.types.is_duration(t) and t.unit == "ns":
            t = pa.duration("us")
        fields.append(pa.field(f.name, t, f.nullable))
    schema = pa.schema(fields)
    if schema == table.schema:
        return table
    return table.cast(schema, safe=False)


def quiver_message(e: Exception) -> str:
    """The server's own words: ADBC wraps them in a gRPC status line."""
    text = str(e)
    marker = "[FlightSQL] "
    if marker in text:
        text = text.split(marker, 1)[1]
    # The driver's suffix: the gRPC code and the call, "(NotFound; Prepare)".
    return re.sub(r" \([A-Za-z]+; [A-Za-z]+\)$", "", text.strip())
