"""32 notebook clients at once against `quiver serve` for 60 seconds, each
on its own ADBC connection, running a mix of queries over the real PyPI
summaries: point lookups with bound parameters, a LIKE search, a GROUP BY,
a top-10, and embed() of a bound title. Reports throughput, latency
percentiles, errors, and the server's memory (RSS) after warm-up and after
each of two runs (flat means the second run ends where the first did).

    cargo build --release
    python benches/flight_load.py [--clients 32] [--seconds 60] [--runs 2]
"""
import argparse
import random
import statistics
import tempfile
import threading
import time

from common import DATA, quiver_sql, table
from flight_server import Server, connect

MIX = [
    ("lookup", "SELECT package, summary FROM pypi WHERE id = $1", lambda r: (r.randrange(1, 800_000),)),
    ("search", "SELECT count(*) FROM pypi WHERE summary LIKE $1", lambda r: (f"%{r.choice(['json', 'http', 'rust', 'plot', 'sql'])}%",)),
    ("group", "SELECT length(package) % 10 AS b, count(*) FROM pypi GROUP BY 1 ORDER BY 1", lambda r: None),
    ("topk", "SELECT package FROM pypi ORDER BY length(summary) DESC LIMIT 10", lambda r: None),
    ("embed", "SELECT embed('w', $1) AS v", lambda r: (r.choice(["fast json parser", "http client for python", "plotting library"]),)),
]


def client(url, deadline, seed, out):
    rng = random.Random(seed)
    conn = connect(url)
    cur = conn.cursor()
    lat, errors = {name: [] for name, _, _ in MIX}, []
    while time.perf_counter() < deadline:
        name, sql, params = rng.choice(MIX)
        p = params(rng)
        start = time.perf_counter()
        try:
            cur.execute(sql, parameters=p) if p else cur.execute(sql)
            cur.fetch_arrow_table()
            lat[name].append(time.perf_counter() - start)
        except Exception as e:  # every error counts; the first few are printed
            errors.append(f"{name}: {e}")
    cur.close()
    conn.close()
    out.append((lat, errors))


def run(url, clients, seconds):
    out = []
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=client, args=(url, deadline, i, out)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = {name: [] for name, _, _ in MIX}
    errors = []
    for l, e in out:
        for k, v in l.items():
            lat[k].extend(v)
        errors.extend(e)
    return lat, errors


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as wh:
        quiver_sql(wh, f"CREATE EXTERNAL TABLE src STORED AS PARQUET LOCATION '{DATA}'; "
                       "CREATE TABLE pypi AS SELECT * FROM src; DROP TABLE src; "
                       "CREATE MODEL w TYPE word2vec OPTIONS (dim = 32, epochs = 1, seed = 1) "
                       "AS SELECT summary FROM pypi")
        with Server(wh) as server:
            run(server.url, 4, 5)  # warm-up: caches, the model loaded
            rss = [("after warm-up", server.rss_mib())]
            for i in range(args.runs):
                t0 = time.perf_counter()
                lat, errors = run(server.url, args.clients, args.seconds)
                elapsed = time.perf_counter() - t0
                time.sleep(2)
                rss.append((f"after run {i + 1}", server.rss_mib()))
                total = sum(len(v) for v in lat.values())
                allv = [x for v in lat.values() for x in v]
                print(f"\nrun {i + 1}: {args.clients} clients, {elapsed:.1f} s: "
                      f"{total:,} queries, {total / elapsed:.1f} queries/s, {len(errors)} errors")
                for e in errors[:5]:
                    print("  error:", e)
                rows = [[name, len(v), f"{statistics.median(v) * 1000:.1f}" if v else "-",
                         f"{pct(v, 99) * 1000:.1f}" if v else "-"] for name, v in lat.items()]
                rows.append(["all", len(allv), f"{statistics.median(allv) * 1000:.1f}",
                             f"{pct(allv, 99) * 1000:.1f}"])
                table(rows, ["query", "count", "p50 ms", "p99 ms"])
            code = server.stop()
    print()
    table([[k, f"{v:.0f}"] for k, v in rss], ["server RSS", "MiB"])
    print(f"server exit status after SIGTERM: {code}")


if __name__ == "__main__":
    main()
