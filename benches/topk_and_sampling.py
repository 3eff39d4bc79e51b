"""Top-k and TABLESAMPLE: quiver beside DuckDB and plain DataFusion (the
`datafusion` Python package) on the same generated Parquet files, printing
ratios (see docs/benchmarks.md).

    python benches/topk_and_sampling.py [--rows 50000000] [--threads 2] [--repeat 3]

Files (written once per run with DuckDB, zstd):
- random.parquet: `id`, `score` uniform, 50 row groups;
- clustered.parquet: the same, `score` rising with `id` (row groups hold
  disjoint score ranges);
- a quiver warehouse table of the random file (quiver's 128k-row groups),
  for TABLESAMPLE SYSTEM;
- groups.parquet: 10M rows, 1,000 groups, for top 3 per group (the window
  `ROW_NUMBER() ... <= 3`, and quiver's `top_k` aggregate);
- vectors.parquet: 1M x 100 Float32, for top 10 by cosine similarity.

quiver is timed three ways: each query as its own CLI process (its wall time
less that of `SELECT 1` in the same warehouse, so start-up is left out but
opening the table is not); warm in one process, as the others are (the
statement's own elapsed time, after one unmeasured run); and warm, through
`quiver serve` on loopback with the ADBC driver a notebook uses (the RPCs
are included). DuckDB and
DataFusion run in this process, warm. Each figure is the best of --repeat
runs. For the clustered file the script also prints how many row groups
quiver's scan pruned (EXPLAIN ANALYZE).
"""
import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import quiver_sql, quiver_warm, table  # noqa: E402
from flight_server import Server, connect  # noqa: E402


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=50_000_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    import duckdb
    import datafusion

    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-topk-"))
    wh = work / "wh"
    rnd, clu, grp, vec = (work / n for n in ("random.parquet", "clustered.parquet", "groups.parquet", "vectors.parquet"))
    n = args.rows
    rg = max(n // 50, 1)
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SELECT setseed(0.42)")
    t0 = time.perf_counter()
    con.execute(f"COPY (SELECT i AS id, random() AS score FROM range({n}) t(i)) TO '{rnd}' "
                f"(FORMAT parquet, ROW_GROUP_SIZE {rg}, COMPRESSION zstd)")
    con.execute(f"COPY (SELECT i AS id, i / {n}.0 + random() * 0.0001 AS score FROM range({n}) t(i)) TO '{clu}' "
                f"(FORMAT parquet, ROW_GROUP_SIZE {rg}, COMPRESSION zstd)")
    con.execute(f"COPY (SELECT i AS id, (hash(i) % 1000)::INT AS g, random() AS score FROM range(10000000) t(i)) "
                f"TO '{grp}' (FORMAT parquet, COMPRESSION zstd)")
    con.execute(f"COPY (SELECT i AS id, array_value({', '.join('random()::FLOAT' for _ in range(100))}) AS v "
                f"FROM range(1000000) t(i)) TO '{vec}' (FORMAT parquet, COMPRESSION zstd)")
    print(f"files written in {time.perf_counter() - t0:.1f}s: {n:,} rows, row groups of {rg:,}", flush=True)

    quiver_sql(wh, f"CREATE EXTERNAL TABLE rnd STORED AS PARQUET LOCATION '{rnd}'; "
                   f"CREATE EXTERNAL TABLE clu STORED AS PARQUET LOCATION '{clu}'; "
                   f"CREATE EXTERNAL TABLE grp STORED AS PARQUET LOCATION '{grp}'; "
                   f"CREATE EXTERNAL TABLE vec STORED AS PARQUET LOCATION '{vec}'; "
                   f"CREATE TABLE rnd_wh AS SELECT * FROM rnd")

    # The warehouse copy is quiver's own Parquet (arrow-rs, with a page
    # index, 128k-row row groups): the peers read the same file.
    rnd_wh = next((wh / "tables" / "rnd_wh").rglob("*.parquet"))

    def quiver_time(sql):
        base = min(quiver_sql(wh, "SELECT 1")[0] for _ in range(args.repeat))
        t = min(quiver_sql(wh, sql)[0] for _ in range(args.repeat))
        return max(t - base, 1e-6)

    def df_ctx(pushdown):
        cfg = datafusion.SessionConfig().with_target_partitions(args.threads)
        cfg = cfg.set("datafusion.execution.parquet.pushdown_filters", "true" if pushdown else "false")
        ctx = datafusion.SessionContext(cfg)
        for name, f in (("rnd", rnd), ("clu", clu), ("grp", grp), ("vec", vec), ("rnd_wh", rnd_wh)):
            ctx.register_parquet(name, str(f))
        return ctx

    server = Server(wh)
    conn = connect(server.url)
    cur = conn.cursor()

    def served_time(sql):
        def once():
            cur.execute(sql)
            cur.fetch_arrow_table()
        once()
        return best(once, args.repeat)

    df_plain, df_push = df_ctx(False), df_ctx(True)
    for name, f in (("rnd", rnd), ("clu", clu), ("grp", grp), ("vec", vec), ("rnd_wh", rnd_wh)):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM '{f}'")

    rows = []
    # 1. ORDER BY score DESC LIMIT 100
    files = {"rnd": "random", "clu": "clustered", "rnd_wh": "random, quiver's file"}
    for t in files:
        sql = f"SELECT id, score FROM {t} ORDER BY score DESC LIMIT 100"
        q = quiver_time(sql)
        qp = quiver_time("SET datafusion.execution.parquet.pushdown_filters = true; " + sql)
        print(f"  quiver with pushdown_filters: {qp:.3f}s (without: {q:.3f}s)", flush=True)
        d = best(lambda: con.execute(sql).fetchall(), args.repeat)
        fp = best(lambda: df_plain.sql(sql).collect(), args.repeat)
        fq = best(lambda: df_push.sql(sql).collect(), args.repeat)
        w = served_time(sql)
        h = quiver_warm(wh, sql, runs=args.repeat)
        rows.append([f"top 100 ({files[t]})", f"{q:.3f}", f"{h:.3f}", f"{w:.3f}",
                     f"{d:.3f}", f"{fp:.3f}", f"{fq:.3f}", f"{d / h:.2f}x", f"{fp / h:.2f}x", f"{d / w:.2f}x",
                     f"{fp / w:.2f}x"])
        print(rows[-1], flush=True)
        _, _, r = quiver_sql(wh, f"EXPLAIN ANALYZE {sql}")
        plan = " ".join(str(v) for row in r for v in row.values())
        for metric in ("row_groups_pruned_statistics", "files_ranges_pruned_statistics", "bytes_scanned",
                       "output_rows"):
            at = plan.find(metric + "=", max(plan.find("DataSourceExec"), 0))
            if at >= 0:
                print(f"  {t}: {plan[at:at + 80].split(',')[0]}", flush=True)

    # 2. top 10 by cosine similarity to a query vector
    qv = ", ".join(f"{((i * 37) % 100) / 100:.2f}" for i in range(100))
    csql = f"SELECT id, cosine_similarity(v, [{qv}]) AS s FROM vec ORDER BY s DESC LIMIT 10"
    q = quiver_time(csql)
    w = served_time(csql)
    h = quiver_warm(wh, csql, runs=args.repeat)
    d = best(lambda: con.execute(f"SELECT id, array_cosine_similarity(v::FLOAT[100], [{qv}]::FLOAT[100]) AS s FROM vec "
                                 f"ORDER BY s DESC LIMIT 10").fetchall(), args.repeat)
    fsql = f"SELECT id, 1 - cosine_distance(v, [{qv}]) AS s FROM vec ORDER BY s DESC LIMIT 10"
    fp = best(lambda: df_plain.sql(fsql).collect(), args.repeat)
    fq = best(lambda: df_push.sql(fsql).collect(), args.repeat)
    rows.append(["top 10 by cosine, 1M x 100", f"{q:.3f}", f"{h:.3f}", f"{w:.3f}", f"{d:.3f}", f"{fp:.3f}",
                 f"{fq:.3f}", f"{d / h:.2f}x", f"{fp / h:.2f}x", f"{d / w:.2f}x", f"{fp / w:.2f}x"])
    print(rows[-1], flush=True)

    # 3. top 3 per group
    wsql = ("SELECT g, id, score FROM (SELECT g, id, score, ROW_NUMBER() OVER (PARTITION BY g ORDER BY score DESC) AS rn "
            "FROM grp) WHERE rn <= 3")
    q = quiver_time(wsql)
    w = served_time(wsql)
    h = quiver_warm(wh, wsql, runs=args.repeat)
    d = best(lambda: con.execute(wsql).fetchall(), args.repeat)
    fp = best(lambda: df_plain.sql(wsql).collect(), args.repeat)
    fq = best(lambda: df_push.sql(wsql).collect(), args.repeat)
    rows.append(["top 3 per group, 10M rows, 1000 groups", f"{q:.3f}", f"{h:.3f}", f"{w:.3f}", f"{d:.3f}",
                 f"{fp:.3f}", f"{fq:.3f}", f"{d / h:.2f}x", f"{fp / h:.2f}x", f"{d / w:.2f}x", f"{fp / w:.2f}x"])
    print(rows[-1], flush=True)

    ksql = "SELECT g, top_k(id, score, 3) AS best FROM grp GROUP BY g"
    q = quiver_time(ksql)
    w = served_time(ksql)
    h = quiver_warm(wh, ksql, runs=args.repeat)
    rows.append(["top 3 per group with quiver's top_k aggregate", f"{q:.3f}", f"{h:.3f}", f"{w:.3f}", f"{d:.3f}",
                 f"{fp:.3f}", f"{fq:.3f}", f"{d / h:.2f}x", f"{fp / h:.2f}x", f"{d / w:.2f}x", f"{fp / w:.2f}x"])
    print(rows[-1], flush=True)

    print()
    table(rows, ["query", "quiver CLI s", "quiver warm s", "quiver serve s", "DuckDB s", "DataFusion s",
                 "DataFusion+pushdown s", "warm vs DuckDB", "warm vs DataFusion", "serve vs DuckDB",
                 "serve vs DataFusion"])

    # 4. TABLESAMPLE SYSTEM (1 PERCENT) on the warehouse copy of the random file
    full_sql = "SELECT count(*), sum(score) FROM rnd_wh"
    samp_sql = "SELECT count(*), sum(score) FROM rnd_wh TABLESAMPLE SYSTEM (1 PERCENT) REPEATABLE (7)"
    full = quiver_time(full_sql)
    samp = quiver_time(samp_sql)

    def scanned(sql):
        _, _, r = quiver_sql(wh, f"EXPLAIN ANALYZE {sql}")
        text = " ".join(str(v) for row in r for v in row.values())
        at = text.find("bytes_scanned=")
        num = "".join(c for c in text[at + 14:at + 30].split(" ")[0] if c.isdigit() or c == ".")
        unit = text[at + 14 + len(num):at + 17 + len(num)].strip()[:1]
        return float(num) * {"K": 1e3, "M": 1e6, "G": 1e9}.get(unit, 1)

    full_b, samp_b = scanned(full_sql), scanned(samp_sql)
    _, _, r = quiver_sql(wh, samp_sql)
    sampled_rows = list(r[0].values())[0]
    _, _, r = quiver_sql(wh, "SELECT count(*) AS n FROM rnd_wh")
    print()
    table([[f"{full:.3f}", f"{samp:.3f}", f"{full / samp:.1f}x", f"{full_b / 1e6:,.1f}", f"{samp_b / 1e6:,.2f}",
            f"{100 * samp_b / full_b:.2f}%", f"{sampled_rows:,}"]],
          ["full scan s", "SYSTEM 1% s", "faster by", "full MB scanned", "sample MB scanned", "share of bytes",
           "sampled rows"])


    cur.close()
    conn.close()
    server.stop()


if __name__ == "__main__":
    main()
