"""Managed tables as Delta tables (#24) beside the layout before them: the
same statements run by a quiver built from the commit before Delta
(4d4bf59, its tables a JSON entry listing their files) and by this one,
in the same run, printing ratios (see docs/benchmarks.md).

    python benches/delta_layout.py --before PATH [--rows 50000000]
        [--insert-rows 10000000] [--repeat 3]

`--before` is that build's release binary (or $QUIVER_PRE_DELTA_BIN);
this build's is found as the other benches find it.

1. Reads: one table of --rows rows (`id`, `score` random; quiver's 128k-row
   groups), written once by this build. The previous layout reads the very
   same Parquet file through an entry of its own (hard-linked), so the two
   differ only in how the table is opened: a Delta log against a JSON
   entry. Timed: the top 100 by score, and TABLESAMPLE SYSTEM 1%, each as
   its own CLI process (wall time, best of --repeat), and `SELECT 1`.
2. INSERT of --insert-rows rows into an existing table, as its own CLI
   process: a Parquet file and a Delta commit against a Parquet file and
   an entry put.
3. DELETE of 1% of a table of --insert-rows rows held in 10 files (one
   per INSERT): the files the commit removes and adds (read from its log
   entry), and its time beside the previous layout's only way to drop
   rows, `INSERT OVERWRITE t SELECT * FROM t WHERE NOT ...` (the whole
   table rewritten).
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import quiver_binary, run_measured, table  # noqa: E402


def run(binary, warehouse, sql):
    """Runs `sql` in its own process; (seconds, rows of the last statement)."""
    seconds, _, out = run_measured([binary, "--warehouse", str(warehouse), "--format", "json", "-c", sql])
    rows = []
    for line in out.splitlines():
        if line.strip().startswith("["):
            rows = json.loads(line)
    return seconds, rows


def best(binary, warehouse, sql, repeat):
    times, rows = [], None
    for _ in range(repeat):
        t, rows = run(binary, warehouse, sql)
        times.append(t)
    return min(times), rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before", default=os.environ.get("QUIVER_PRE_DELTA_BIN"))
    p.add_argument("--rows", type=int, default=50_000_000)
    p.add_argument("--insert-rows", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if not args.before or not os.path.exists(args.before):
        sys.exit("--before: the release binary of the commit before Delta (4d4bf59)")
    before, after = args.before, quiver_binary()
    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-delta-bench-"))
    rows = []
    try:
        # 1. Reads of the same file.
        delta_wh, old_wh = work / "delta", work / "old"
        create = (f"CREATE TABLE big AS SELECT value AS id, random() AS score "
                  f"FROM generate_series(1, {args.rows})")
        t, _ = run(after, delta_wh, create)
        print(f"wrote {args.rows:,} rows in {t:.1f}s", flush=True)
        files = sorted((delta_wh / "tables" / "big").rglob("*.parquet"))
        listed = []
        for f in files:
            rel = f.relative_to(delta_wh)
            (old_wh / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(f, old_wh / rel)
            listed.append(str(rel))
        (old_wh / "catalog").mkdir(parents=True)
        (old_wh / "catalog" / "big.json").write_text(json.dumps(
            {"kind": "table", "files": listed, "updated": "2026-12-04T00:00:00Z"}))
        size = sum(f.stat().st_size for f in files)
        print(f"{len(files)} file(s), {size / 1e6:,.1f} MB", flush=True)
        queries = [
            ("SELECT 1", "SELECT 1"),
            ("top 100 by score", "SELECT id, score FROM big ORDER BY score DESC LIMIT 100"),
            ("TABLESAMPLE SYSTEM 1%",
             "SELECT count(*), sum(score) FROM big TABLESAMPLE SYSTEM (1 PERCENT) REPEATABLE (7)"),
        ]
        for name, sql in queries:
            old_t, old_rows = best(before, old_wh, sql, args.repeat)
            new_t, new_rows = best(after, delta_wh, sql, args.repeat)
            if "TABLESAMPLE" in name:
                # The draw hashes each file's path, which differs between the
                # two warehouses: the samples differ, their sizes should not much.
                print(f"  sampled: {old_rows} before, {new_rows} with Delta", flush=True)
            elif new_rows != old_rows:
                sys.exit(f"{name}: the answers differ: {old_rows[:3]} against {new_rows[:3]}")
            rows.append([name, f"{args.rows:,}", f"{old_t:.3f}", f"{new_t:.3f}", f"{new_t / old_t:.2f}"])
            print(rows[-1], flush=True)

        # 2. INSERT into an existing table.
        insert = (f"INSERT INTO t SELECT value AS id, random() AS score "
                  f"FROM generate_series(1, {args.insert_rows})")
        times = {}
        for label, binary in (("before", before), ("after", after)):
            wh = work / f"insert-{label}"
            run(binary, wh, "CREATE TABLE t (id BIGINT, score DOUBLE)")
            times[label], _ = best(binary, wh, insert, args.repeat)
        rows.append(["INSERT", f"{args.insert_rows:,}", f"{times['before']:.3f}", f"{times['after']:.3f}",
                     f"{times['after'] / times['before']:.2f}"])
        print(rows[-1], flush=True)

        # 3. DELETE 1% of a 10-file table.
        per = args.insert_rows // 10
        fill = ";".join(f"INSERT INTO t SELECT value + {i * per} AS id, random() AS score "
                        f"FROM generate_series(1, {per})" for i in range(10))
        lo, hi = 3 * per + 1, 3 * per + args.insert_rows // 100
        times, answers = {}, {}
        for label, binary, sql in (
                ("before", before, f"INSERT OVERWRITE t SELECT * FROM t WHERE NOT (id BETWEEN {lo} AND {hi})"),
                ("after", after, f"DELETE FROM t WHERE id BETWEEN {lo} AND {hi}")):
            wh = work / f"delete-{label}"
            run(binary, wh, "CREATE TABLE t (id BIGINT, score DOUBLE);" + fill)
            times[label], _ = run(binary, wh, sql)
            _, answers[label] = run(binary, wh, "SELECT count(*) AS n, sum(id) AS s FROM t")
        if answers["before"] != answers["after"]:
            sys.exit(f"DELETE: the tables differ: {answers}")
        log = sorted((work / "delete-after" / "tables" / "t" / "_delta_log").glob("*.json"))[-1]
        actions = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        removed = sum("remove" in a for a in actions)
        added = sum("add" in a for a in actions)
        rows.append([f"DELETE 1% (of 10 files: removed {removed}, added {added})", f"{args.insert_rows:,}",
                     f"{times['before']:.3f}", f"{times['after']:.3f}", f"{times['after'] / times['before']:.2f}"])
        print(rows[-1], flush=True)
        print()
        table(rows, ["statement", "rows", "before Delta s", "Delta s", "Delta / before"])
        print(f"\nbefore: {before}\nafter: {after}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
