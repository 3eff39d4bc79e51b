"""cosine_similarity, l2_distance and dot_product against DataFusion's own
cosine_distance, array_distance and inner_product, in the same quiver
binary on the same table: 1,000,000 vectors of 100 Float32.

    python benches/vector_functions.py [--rows 1000000] [--repeat 5]

DataFusion's functions cast FixedSizeList<Float32> to List<Float64> (a copy
and an upcast per row); this measures whether ours are worth having.
Prints the median time of each query and the ratio.
"""
import argparse
import pathlib
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import quiver_sql, table  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    wh = pathlib.Path(tempfile.mkdtemp(prefix="quiver-vec-")) / "wh"
    components = ", ".join(f"random()" for _ in range(100))
    quiver_sql(wh, f"CREATE TABLE vecs AS SELECT value AS id, "
                   f"arrow_cast(make_array({components}), 'FixedSizeList(100, Float32)') AS v "
                   f"FROM generate_series(1, {args.rows})")
    q = "arrow_cast(make_array(" + ", ".join(f"{(i % 7) / 7:.3f}" for i in range(100)) + "), 'FixedSizeList(100, Float32)')"
    pairs = [
        ("cosine", f"max(cosine_similarity(v, {q}))", f"max(1 - cosine_distance(v, {q}))"),
        ("l2", f"max(l2_distance(v, {q}))", f"max(array_distance(v, {q}))"),
        ("dot", f"max(dot_product(v, {q}))", f"max(inner_product(v, {q}))"),
    ]
    rows = []
    for name, ours, theirs in pairs:
        times = {}
        for label, expr in (("quiver", ours), ("datafusion", theirs)):
            samples = []
            for _ in range(args.repeat):
                # One process per run: each includes the scan, as a user's query does.
                s, _, _ = quiver_sql(wh, f"SELECT {expr} AS x FROM vecs")
                samples.append(s)
            times[label] = statistics.median(samples)
        rows.append([name, f"{times['datafusion']:.3f}", f"{times['quiver']:.3f}",
                     f"{times['datafusion'] / times['quiver']:.2f}x"])
    _, _, r = quiver_sql(wh, "SELECT 1 AS one")
    base = statistics.median(quiver_sql(wh, "SELECT max(v[1]) AS x FROM vecs")[0] for _ in range(args.repeat))
    table(rows, ["function", "DataFusion s", "quiver s", "speed-up"])
    print(f"(reading the vectors alone, SELECT max(v[1]), takes {base:.3f} s of each; {args.rows:,} rows, median of {args.repeat})")


if __name__ == "__main__":
    main()
