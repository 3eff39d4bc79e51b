"""The notebook snippet of docs/notebooks.md, run against a real `quiver
serve` with the ADBC Flight SQL driver, as a data scientist would.

    python tests/python/notebook.py grpc://127.0.0.1:PORT TOKEN

The server must require TOKEN (it is started so by tests/flight.rs). Each
check raises on failure; the script prints one line per check and exits 0
only when every check passed.
"""

import sys

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pandas as pd
import pyarrow as pa

URI, TOKEN = sys.argv[1], sys.argv[2]


def check(name, ok, detail=""):
    if not ok:
        raise AssertionError(f"{name}: {detail}")
    print(f"ok {name}")


def connect(token):
    return flight_sql.connect(
        URI,
        db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"},
        autocommit=True,
    )


# A wrong token is refused, with the server's reason.
try:
    with connect("not-the-token") as bad, bad.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchall()
    raise AssertionError("a wrong token was accepted")
except adbc_driver_manager.Error as e:
    check("wrong token refused", "token" in str(e).lower(), str(e))

# The snippet: connect, query into pandas.
conn = connect(TOKEN)
cur = conn.cursor()
cur.execute("SELECT 1 AS one, 'quiver' AS name")
df = cur.fetch_df()
check("query to pandas", df.to_dict("records") == [{"one": 1, "name": "quiver"}], df)

# DDL and executemany inserts that really insert (the rows are read back).
cur.execute("CREATE OR REPLACE TABLE notes (id BIGINT, body VARCHAR)")
rows = [(i, f"note {i} about rust and arrow") for i in range(1, 201)]
cur.executemany("INSERT INTO notes VALUES ($1, $2)", rows)
cur.execute("SELECT count(*) AS n, sum(id) AS s FROM notes")
n, s = cur.fetchone()
check("executemany inserts every row", (n, s) == (200, 200 * 201 // 2), (n, s))

# Bound parameters, in a filter and as a function argument.
cur.execute("SELECT body FROM notes WHERE id = $1", parameters=(7,))
check("bound parameter in a filter", cur.fetchall() == [("note 7 about rust and arrow",)])
cur.execute("SELECT upper($1) AS u, $2 + 1 AS n", parameters=("abc", 41))
check("bound parameters in a projection", cur.fetchall() == [("ABC", 42)])

# adbc_ingest of a pandas DataFrame, then of an Arrow table in append mode.
frame = pd.DataFrame(
    {
        "title": [
            "fast json parser for rust",
            "rust http client",
            "python json schema validator",
            "http server in python",
        ]
        * 50,
        "price": [1.5, 2.5, 3.5, 4.5] * 50,
    }
)
ingested = cur.adbc_ingest("titles", frame, mode="create")
check("adbc_ingest creates a table", ingested in (200, -1), ingested)
more = pa.table({"title": ["rust json library"], "price": [9.0]})
cur.adbc_ingest("titles", more, mode="append")
cur.execute("SELECT count(*) FROM titles")
check("adbc_ingest appends", cur.fetchone()[0] == 201)
try:
    cur.adbc_ingest("titles", more, mode="create")
    raise AssertionError("ingest mode 'create' replaced an existing table")
except adbc_driver_manager.Error as e:
    check("adbc_ingest create refuses an existing table", "already exists" in str(e), str(e))
# Into a schema of the warehouse, as dbt's seeds and models go.
cur.execute("CREATE SCHEMA IF NOT EXISTS staging")
cur.fetchall()
cur.adbc_ingest("raw_titles", more, mode="create", db_schema_name="staging")
cur.adbc_ingest("raw_titles", more, mode="append", db_schema_name="staging")
cur.execute("SELECT count(*) FROM staging.raw_titles")
check("adbc_ingest into a schema", cur.fetchone()[0] == 2)
try:
    cur.adbc_ingest("raw_titles", more, mode="create", db_schema_name="no_such_schema")
    raise AssertionError("ingest into a missing schema succeeded")
except adbc_driver_manager.Error as e:
    check("adbc_ingest into a missing schema is refused", "no_such_schema" in str(e), str(e))

# adbc_get_objects lists the tables and their columns.
objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
tables = {
    t["table_name"]: [c["column_name"] for c in (t["table_columns"] or [])]
    for catalog in objects
    for schema in catalog["catalog_db_schemas"] or []
    for t in schema["db_schema_tables"] or []
}
check("adbc_get_objects lists tables", "notes" in tables and "titles" in tables, sorted(tables))
check("adbc_get_objects lists columns", tables["titles"] == ["title", "price"], tables["titles"])

# quiver's functions: train word2vec and k-means, then embed, tag.
cur.execute(
    "CREATE OR REPLACE MODEL w2v TYPE word2vec "
    "OPTIONS (dim = 16, min_count = 1, epochs = 20, seed = 1, threads = 1) AS SELECT title FROM titles"
)
cur.fetchall()
cur.execute("SELECT embed('w2v', $1) AS v", parameters=("rust json",))
vector = cur.fetchone()[0]
check("embed with a bound title", len(vector) == 16, vector)
cur.execute(
    "CREATE OR REPLACE MODEL km TYPE kmeans OPTIONS (k = 2, seed = 1) "
    "AS SELECT embed('w2v', title) FROM titles"
)
cur.fetchall()
cur.execute(
    "CREATE OR REPLACE MODEL tagger TYPE tagger "
    "OPTIONS (embedding = 'w2v', clusters = 'km', max_tags = 2)"
)
cur.fetchall()
cur.execute("SELECT title, tag('tagger', title) AS tags FROM titles ORDER BY title LIMIT 3")
tagged = cur.fetch_df()
check(
    "tag over Flight SQL",
    len(tagged) == 3 and all(len(t) > 0 for t in tagged["tags"]),
    tagged,
)

# A SQL typo is the user's error, with the server's message.
try:
    cur.execute("SELEC 1")
    raise AssertionError("a typo ran")
except adbc_driver_manager.ProgrammingError as e:
    check("typo is INVALID_ARGUMENT", "INVALID_ARGUMENT" in str(e) or "InvalidArgument" in str(e), str(e))
except adbc_driver_manager.Error as e:
    raise AssertionError(f"a typo gave {type(e).__name__}, not ProgrammingError: {e}")

# An unknown table is NOT_FOUND, naming what exists.
try:
    cur.execute("SELECT * FROM no_such_table")
    raise AssertionError("an unknown table was queried")
except adbc_driver_manager.Error as e:
    check("unknown table is NOT_FOUND", "NOT_FOUND" in str(e) and "titles" in str(e), str(e))

cur.close()
conn.close()
print("all notebook checks passed")
