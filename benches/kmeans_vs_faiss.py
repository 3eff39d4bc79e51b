"""k-means: quiver beside faiss-cpu (faiss.Kmeans) and scikit-learn (KMeans,
lloyd) on the same vectors, printing ratios (see docs/benchmarks.md).

    python benches/kmeans_vs_faiss.py [--threads 2] [--k 100] [--iters 20]

The vectors are the mean word vectors (embed) of every PyPI summary under a
word2vec model quiver trains first (dim 100). Every system runs exactly
--iters Lloyd iterations (no early stop) with --threads threads; faiss trains
on all points (max_points_per_centroid raised), and initialisation counts in
each total. Inertia is the sum of squared distances to the final centroids,
computed the same way (faiss's search) for all three. Then cluster_assign
against faiss's IndexFlatL2.search over the same centroids.

Run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so numpy and faiss use
their best kernels; threadpoolctl reports what they used.
"""
import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import DATA, quiver_sql, table  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--skip-sklearn", action="store_true")
    args = p.parse_args()

    import numpy as np
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_info, threadpool_limits

    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-km-"))
    wh, vec_file = work / "wh", work / "vectors.parquet"
    quiver_sql(wh, f"CREATE EXTERNAL TABLE pypi STORED AS PARQUET LOCATION '{args.data}'; "
                   f"CREATE MODEL w TYPE word2vec OPTIONS (threads = {args.threads}) AS SELECT summary FROM pypi; "
                   f"COPY (SELECT embed('w', summary) AS v FROM pypi WHERE embed('w', summary) IS NOT NULL) "
                   f"TO '{vec_file}' STORED AS PARQUET; "
                   f"CREATE EXTERNAL TABLE vecs STORED AS PARQUET LOCATION '{vec_file}'")
    col = pq.read_table(vec_file).column("v").combine_chunks()
    x = np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(col), -1)
    n, d = x.shape
    print(f"{n:,} vectors of {d} dimensions, k = {args.k}, {args.iters} iterations, {args.threads} threads", flush=True)

    import faiss

    faiss.omp_set_num_threads(args.threads)

    def inertia_of(centroids):
        index = faiss.IndexFlatL2(d)
        index.add(np.ascontiguousarray(centroids, dtype=np.float32))
        dist, _ = index.search(x, 1)
        return float(dist.sum())

    rows = []
    # quiver
    sql = (f"CREATE OR REPLACE MODEL km TYPE kmeans OPTIONS (k = {args.k}, max_iter = {args.iters}, tol = 0, "
           f"threads = {args.threads}, seed = 1) AS SELECT v FROM vecs; "
           f"SELECT metric, value FROM model_metrics('km') WHERE step IS NULL")
    wall, mib, metrics = quiver_sql(wh, sql)
    m = {r["metric"]: r["value"] for r in metrics}
    _, _, cents = quiver_sql(wh, "SELECT centroid FROM model_centroids('km') ORDER BY cluster_id")
    q_centroids = np.array([r["centroid"] for r in cents], dtype=np.float32)
    q_total = m["train_seconds"]
    q_iter = (q_total - m["init_seconds"]) / m["iterations"]
    q_inertia = inertia_of(q_centroids)
    rows.append(["quiver", f"{q_total:.2f}", f"{m['init_seconds']:.2f}", f"{q_iter:.3f}", f"{q_inertia:,.0f}", f"{mib:,.0f}"])
    print(f"quiver done ({wall:.1f}s wall)", flush=True)

    # faiss
    km = faiss.Kmeans(d, args.k, niter=args.iters, seed=1, max_points_per_centroid=10**9, verbose=False)
    start = time.perf_counter()
    km.train(x)
    f_total = time.perf_counter() - start
    f_iter = f_total / args.iters
    f_inertia = inertia_of(km.centroids)
    rows.append(["faiss", f"{f_total:.2f}", "-", f"{f_iter:.3f}", f"{f_inertia:,.0f}", "-"])
    print("faiss done", flush=True)

    s_inertia = None
    if not args.skip_sklearn:
        from sklearn.cluster import KMeans

        with threadpool_limits(args.threads):
            sk = KMeans(n_clusters=args.k, n_init=1, max_iter=args.iters, tol=0, algorithm="lloyd", random_state=1)
            start = time.perf_counter()
            sk.fit(x)
            s_total = time.perf_counter() - start
        s_inertia = inertia_of(sk.cluster_centers_)
        rows.append(["scikit-learn", f"{s_total:.2f}", "-", f"{s_total / args.iters:.3f}", f"{s_inertia:,.0f}", "-"])
        print("scikit-learn done", flush=True)

    print()
    table(rows, ["system", "total s", "init s", "s per iteration (after init)", "inertia", "peak MiB"])
    best = min(v for v in (f_inertia, s_inertia) if v is not None)
    print(f"\nper iteration, faiss / quiver: {f_iter / q_iter:.2f}x;  total, faiss / quiver: {f_total / q_total:.2f}x;  "
          f"inertia vs the better peer: {100 * (q_inertia / best - 1):+.2f}%")

    # assignment throughput
    index = faiss.IndexFlatL2(d)
    index.add(q_centroids)
    start = time.perf_counter()
    index.search(x, 1)
    f_assign = time.perf_counter() - start
    sec, _, r = quiver_sql(wh, "SELECT count(cluster_assign('km', v)) AS n FROM vecs")
    base, _, _ = quiver_sql(wh, "SELECT count(v) AS n FROM vecs")
    table([[f"{n / f_assign:,.0f}", f"{n / sec:,.0f}", f"{n / max(sec - base, 1e-9):,.0f}", f"{f_assign / sec:.2f}x"]],
          ["faiss search vectors/s", "quiver cluster_assign vectors/s (whole query)",
           "quiver (minus reading the vectors)", "ratio (whole query)"])
    for lib in threadpool_info():
        print(f"  {lib.get('internal_api')} {lib.get('version')} {lib.get('architecture', '')} threads={lib.get('num_threads')}")


if __name__ == "__main__":
    main()
