"""Two quiver builds side by side on the same work, interleaved in one run:
the check that a change to the code's layout (issue 22, the engine seam)
cost no speed. Each build gets its own warehouse and trains its own models
from the same data; every figure is the best of the runs.

    QUIVER_BIN_A=/path/to/before QUIVER_BIN_B=/path/to/after \\
        python benches/engine_ab.py [--rows 20000000] [--runs 3]

Work (PyPI summaries from ../shared/data, 832,949 texts):
- word2vec training (dim 100, 5 epochs, 2 threads), k-means (k 100, cosine)
  and the tagger: each `CREATE MODEL` as its own process (wall time);
- embed and tag of every summary, warm (one process, best statement time);
- top 100 by a score and TABLESAMPLE SYSTEM 1% on a warehouse table of
  --rows generated rows, warm;
- fetching 10M rows over Flight SQL with the ADBC driver (needs
  adbc-driver-flightsql in this Python; skipped otherwise).
Prints B/A per line: below 1 is B faster.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import DATA, quiver_sql, quiver_warm, table  # noqa: E402


def use(binary):
    os.environ["QUIVER_BIN"] = binary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    bins = {"A": os.environ["QUIVER_BIN_A"], "B": os.environ["QUIVER_BIN_B"]}
    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-ab-"))
    wh = {k: work / k for k in bins}
    results = {}

    def record(name, k, seconds):
        results.setdefault(name, {}).setdefault(k, []).append(seconds)

    for k, b in bins.items():
        use(b)
        quiver_sql(wh[k], f"CREATE EXTERNAL TABLE pypi STORED AS PARQUET LOCATION '{DATA}'; "
                          f"CREATE TABLE scores AS SELECT value AS id, "
                          f"((value * 2654435761) % 1000003) / 1000003.0 AS s "
                          f"FROM generate_series(1, {args.rows})")

    trainings = [
        ("word2vec training (s)", "CREATE OR REPLACE MODEL w TYPE word2vec OPTIONS "
         "(dim = 100, min_count = 5, epochs = 5, seed = 1, threads = 2) AS SELECT summary FROM pypi"),
        ("k-means training (s)", "CREATE OR REPLACE MODEL c TYPE kmeans OPTIONS "
         "(k = 100, distance = 'cosine', seed = 1) AS SELECT embed('w', summary) FROM pypi"),
        ("tagger build (s)", "CREATE OR REPLACE MODEL t TYPE tagger OPTIONS "
         "(embedding = 'w', clusters = 'c', candidates = 300)"),
    ]
    warm = [
        ("embed every summary, warm (s)", "SELECT count(embed('w', summary)) FROM pypi"),
        ("tag every summary, warm (s)", "SELECT count(tag('t', summary)) FROM pypi"),
        ("top 100 of the scores, warm (s)", "SELECT id FROM scores ORDER BY s DESC LIMIT 100"),
        ("TABLESAMPLE SYSTEM 1%, warm (s)",
         "SELECT count(*), avg(s) FROM scores TABLESAMPLE SYSTEM (1 PERCENT) REPEATABLE (7)"),
    ]
    for name, sql in trainings:
        for run in range(2 if name.startswith("word2vec") else args.runs):
            for k in (("A", "B") if run % 2 == 0 else ("B", "A")):
                use(bins[k])
                seconds, _, _ = quiver_sql(wh[k], sql)
                record(name, k, seconds)
    for run in range(args.runs):
        for k in (("A", "B") if run % 2 == 0 else ("B", "A")):
            use(bins[k])
            for name, sql in warm:
                record(name, k, quiver_warm(wh[k], sql, runs=3, warmups=1))

    try:
        from flight_server import Server, connect
        for k in bins:
            use(bins[k])
            quiver_sql(wh[k], "CREATE TABLE big AS SELECT value AS id, value * 0.5 AS x, "
                              "'package ' || (value % 100000) AS name FROM generate_series(1, 10000000)")
        for run in range(args.runs):
            for k in (("A", "B") if run % 2 == 0 else ("B", "A")):
                use(bins[k])
                with Server(wh[k]) as server:
                    conn = connect(server.url)
                    cur = conn.cursor()
                    t0 = time.perf_counter()
                    cur.execute("SELECT * FROM big")
                    n = cur.fetch_arrow_table().num_rows
                    record("Flight SQL fetch of 10M rows (s)", k, time.perf_counter() - t0)
                    cur.close()
                    conn.close()
                    assert n == 10_000_000, n
    except ImportError as e:
        print(f"(Flight SQL fetch skipped: {e})")

    rows = []
    for name, by in results.items():
        a, b = min(by["A"]), min(by["B"])
        rows.append((name, f"{a:.3f}", f"{b:.3f}", f"{b / a:.3f}"))
    print(f"A = {bins['A']}\nB = {bins['B']}\n")
    table(rows, ["work", "A (best)", "B (best)", "B/A"])


if __name__ == "__main__":
    main()
