"""quiver on a Ballista cluster beside quiver in one process (#25): the
overhead of running the same SQL distributed, on this machine.

    python benches/cluster.py [--rows 10000000] [--runs 3] [--warehouse PATH]

Generates the demo catalogue and trains the demo's models (`quiver demo
--rows N`), then times each query as one `quiver -c` process (start-up
included, best of --runs): in one process, on a cluster of one executor, and
on a cluster of two executors (a scheduler and executors started by this
script from the same release binary on free loopback ports, over the same
warehouse folder). Each executor runs as many tasks at once as the machine
has cores. Prints the times and the ratio of each cluster's to the one
process's, and checks that the answers are equal.

It then compares the bytes the Parquet scans read (`bytes_scanned`, summed
over every scan of `EXPLAIN ANALYZE`, which on a cluster sums the metrics the
executors report to the scheduler) for the top 100 and the `SYSTEM` 1%
sample, and estimates the seed's job (tagging 300M titles) on N executors
from the measured rate per core.

The machine has 2 cores: two executors share them, so no speed-up is
possible here; the ratios are the cost of planning on a scheduler, shipping
plans, and moving rows between processes.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import quiver_binary  # noqa: E402

QUERIES = [
    ("tag every title", "SELECT sum(cardinality(tag('title_tags', title))) FROM products"),
    ("embed + cluster every title",
     "SELECT cluster_assign('title_clusters', embed('title_vectors', title)).cluster_id AS c, "
     "count(*) FROM products GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3"),
    ("top 100 by id", "SELECT id, title FROM products ORDER BY id DESC LIMIT 100"),
    ("SYSTEM 1% sample", "SELECT count(*), sum(length(title)) FROM products "
     "TABLESAMPLE SYSTEM (1 PERCENT) REPEATABLE (7)"),
    ("group by type", "SELECT product_type, count(*), avg(length(title)) FROM products "
     "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"),
]


# The queries whose bytes read are compared.
SCANNED = ("top 100 by id", "SYSTEM 1% sample")


def start(binary, warehouse, args, log):
    proc = subprocess.Popen([binary, "--warehouse", str(warehouse)] + args,
                            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    line = proc.stdout.readline()
    if not line:
        sys.exit(f"{args[0]} did not start: {pathlib.Path(log).read_text()}")
    return proc, line


def run(binary, warehouse, sql, cluster=None):
    cmd = [binary, "--warehouse", str(warehouse), "--format", "csv"]
    if cluster:
        cmd += ["--cluster", cluster]
    cmd += ["-c", sql]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"failed: {sql}\n{out.stderr}")
    return seconds, out.stdout


def best(binary, warehouse, sql, runs, cluster=None):
    times, answer = [], None
    for _ in range(runs):
        seconds, answer = run(binary, warehouse, sql, cluster)
        times.append(seconds)
    return min(times), answer


BYTES = re.compile(r"bytes_scanned=([0-9.]+) ?([KMGT]?)")
SCALE = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def bytes_scanned(binary, warehouse, sql, cluster=None):
    """The bytes every Parquet scan of `sql` read, from EXPLAIN ANALYZE (as
    DataFusion prints them: four significant digits)."""
    _, plan = run(binary, warehouse, f"EXPLAIN ANALYZE {sql}", cluster)
    found = BYTES.findall(plan)
    if not found:
        sys.exit(f"no bytes_scanned in the plan of {sql}:\n{plan}")
    return sum(float(n) * SCALE[unit] for n, unit in found)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warehouse", type=pathlib.Path,
                    help="a warehouse `quiver demo` made before (its --rows), used as it is "
                         "instead of making one")
    args = ap.parse_args()
    binary = quiver_binary()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        if args.warehouse:
            warehouse = args.warehouse
            print(f"demo catalogue and models in {warehouse}")
        else:
            warehouse = tmp / "warehouse"
            t = time.perf_counter()
            subprocess.run([binary, "demo", "--warehouse", str(warehouse), "--rows",
                            str(args.rows), "--report", str(tmp / "report.html")],
                           check=True, stdout=subprocess.DEVNULL)
            print(f"demo catalogue and models, {args.rows:,} titles: "
                  f"{time.perf_counter() - t:.1f} s")
        results = {q: {} for q, _ in QUERIES}
        scanned = {q: {} for q in SCANNED}
        for name, sql in QUERIES:
            results[name]["one process"] = best(binary, warehouse, sql, args.runs)
            if name in SCANNED:
                scanned[name]["one process"] = bytes_scanned(binary, warehouse, sql)
        for executors in (1, 2):
            scheduler, line = start(binary, warehouse, ["scheduler", "--bind", "127.0.0.1:0"],
                                    tmp / "scheduler.err")
            address = next(w for w in line.split() if w.startswith("127.0.0.1:"))
            procs = [scheduler]
            try:
                for i in range(executors):
                    proc, _ = start(binary, warehouse,
                                    ["executor", "--scheduler", address, "--bind", "127.0.0.1:0",
                                     "--work-dir", str(tmp / f"work{i}")],
                                    tmp / f"executor{i}.err")
                    procs.append(proc)
                label = f"{executors} executor{'s' if executors > 1 else ''}"
                for name, sql in QUERIES:
                    results[name][label] = best(binary, warehouse, sql, args.runs,
                                                cluster=f"df://{address}")
                for name, sql in QUERIES:
                    if name in SCANNED:
                        scanned[name][label] = bytes_scanned(binary, warehouse, sql,
                                                             f"df://{address}")
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
        print(f"\n{os.cpu_count()} cores; best of {args.runs}, each a whole `quiver -c` process\n")
        print("| query | one process | 1 executor | ratio | 2 executors | ratio | same answer |")
        print("|---|---|---|---|---|---|---|")
        for name, _ in QUERIES:
            r = results[name]
            local, answer = r["one process"]
            one, a1 = r["1 executor"]
            two, a2 = r["2 executors"]
            same = "yes" if answer == a1 == a2 else "NO"
            print(f"| {name} | {local:.2f} s | {one:.2f} s | {one / local:.2f}x | "
                  f"{two:.2f} s | {two / local:.2f}x | {same} |")
        print("\n| query | bytes read, one process | 1 executor | 2 executors | equal |")
        print("|---|---|---|---|---|")
        for name in SCANNED:
            b = scanned[name]
            equal = "yes" if b["one process"] == b["1 executor"] == b["2 executors"] else "NO"
            print(f"| {name} | {b['one process']:,.0f} | {b['1 executor']:,.0f} | "
                  f"{b['2 executors']:,.0f} | {equal} |")
        # The seed's job: tag 300M titles. A core tags at the rate one
        # process showed (its time over its cores, start-up included, so
        # this errs slow); a cluster adds the fixed cost one executor showed
        # over one process, and divides the rest among its cores.
        cores = os.cpu_count()
        local = results["tag every title"]["one process"][0]
        one = results["tag every title"]["1 executor"][0]
        per_core = args.rows / (local * cores)
        overhead = max(one - local, 0.0)
        print(f"\ntagging: {per_core:,.0f} titles/s per core (one process, {cores} cores); "
              f"a cluster's fixed cost here: {overhead:.2f} s")
        print("\n| executors (8 cores each) | 300M titles tagged in |")
        print("|---|---|")
        for n in (1, 4, 16, 64):
            seconds = 300e6 / (per_core * 8 * n) + overhead
            print(f"| {n} | {seconds / 60:.1f} min ({seconds:.0f} s) |")


if __name__ == "__main__":
    main()
