"""tag(): quiver beside (a) the naive method in numpy (nearest 200 vocabulary
words per title, keep those in the title), (b) Spark MLlib doing the whole
job (Word2Vec, KMeans, per-cluster lists, a tagging UDF), and (c) the cluster
method itself in numpy and Python sets, on the PyPI summaries. Prints ratios
(see docs/benchmarks.md).

    python benches/tag_vs_peers.py [--threads 2] [--naive-sample 20000] [--skip-spark]

Every method tags with the same word vectors, centroids and candidate lists
(quiver's, exported), except Spark, which trains its own models. The Spark
job matches quiver's settings where MLlib has them: 100 dimensions, window 5,
min_count 5, 5 passes (maxIter), k = 100, 20 k-means iterations, 300
candidates, 5 tags; local mode on all --threads cores.

Run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so numpy uses its best
kernels.
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import DATA, quiver_sql, table, tokenize  # noqa: E402

MAX_TAGS = 5
CANDIDATES = 300


def quiver_job(wh, data, threads):
    """The whole job in quiver: train both models, build the tagger, tag every
    title into a table. Returns (seconds, peak MiB)."""
    sql = (f"CREATE EXTERNAL TABLE pypi STORED AS PARQUET LOCATION '{data}'; "
           f"CREATE MODEL w TYPE word2vec OPTIONS (threads = {threads}, seed = 1) AS SELECT summary FROM pypi; "
           f"CREATE MODEL c TYPE kmeans OPTIONS (k = 100, distance = 'cosine', max_iter = 20, "
           f"threads = {threads}, seed = 1) AS SELECT embed('w', summary) FROM pypi; "
           f"CREATE MODEL t TYPE tagger OPTIONS (embedding = 'w', clusters = 'c', "
           f"candidates = {CANDIDATES}, max_tags = {MAX_TAGS}); "
           f"CREATE TABLE tagged AS SELECT id, tag('t', summary) AS tags FROM pypi")
    seconds, mib, _ = quiver_sql(wh, sql)
    return seconds, mib


def export_models(wh, work):
    """quiver's word vectors, centroids and candidate lists, for numpy."""
    import numpy as np

    vec_file = work / "w.txt"
    quiver_sql(wh, f"COPY MODEL w TO '{vec_file}' (FORMAT word2vec_text)")
    words, rows = [], []
    with open(vec_file, encoding="utf-8") as f:
        n, dim = map(int, f.readline().split())
        for line in f:
            parts = line.rstrip("\n").split(" ")
            words.append(parts[0])
            rows.append(np.asarray(parts[1:1 + dim], dtype=np.float32))
    vectors = np.vstack(rows)
    _, _, cents = quiver_sql(wh, "SELECT cluster_id, centroid FROM model_centroids('c') ORDER BY cluster_id")
    centroids = np.array([r["centroid"] for r in cents], dtype=np.float32)
    _, _, cands = quiver_sql(wh, "SELECT cluster_id, word, similarity FROM model_candidates('t')")
    lists = [dict() for _ in range(len(centroids))]
    for r in cands:
        lists[r["cluster_id"]][r["word"]] = r["similarity"]
    return words, vectors, centroids, lists


def unit(m):
    import numpy as np

    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return m / norms


def title_vectors(titles, index, vectors):
    """Mean word vector per title (a sparse matrix product), and the tokens."""
    import numpy as np
    import scipy.sparse as sp

    indptr, indices, data, tokens = [0], [], [], []
    for t in titles:
        toks = tokenize(t)
        tokens.append(toks)
        ids = [index[w] for w in toks if w in index]
        if ids:
            w = 1.0 / len(ids)
            indices.extend(ids)
            data.extend([w] * len(ids))
        indptr.append(len(indices))
    m = sp.csr_matrix((np.asarray(data, dtype=np.float32), indices, indptr), shape=(len(titles), len(vectors)))
    return np.asarray(m @ vectors), tokens


def naive(titles, words, vectors, k=200):
    """Per title: its 200 nearest vocabulary words, kept if in the title."""
    import numpy as np

    index = {w: i for i, w in enumerate(words)}
    units = unit(vectors)
    out = []
    for start in range(0, len(titles), 1024):
        chunk = titles[start:start + 1024]
        x, tokens = title_vectors(chunk, index, vectors)
        sims = unit(x) @ units.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        for row, toks in enumerate(tokens):
            near = {words[j]: sims[row, j] for j in top[row]}
            tags = sorted({t for t in toks if t in near}, key=lambda t: -near[t])[:MAX_TAGS]
            out.append(tags)
    return out


def cluster_method(titles, words, vectors, centroids, lists):
    """The cluster method in numpy and Python sets: embed, assign, intersect."""
    import numpy as np

    index = {w: i for i, w in enumerate(words)}
    c = unit(centroids)
    out = []
    assign_seconds = 0.0
    for start in range(0, len(titles), 65536):
        chunk = titles[start:start + 65536]
        x, tokens = title_vectors(chunk, index, vectors)
        t0 = time.perf_counter()
        cluster = np.argmax(unit(x) @ c.T, axis=1)
        assign_seconds += time.perf_counter() - t0
        for toks, cl in zip(tokens, cluster):
            cand = lists[cl]
            tags = sorted({t for t in toks if t in cand}, key=lambda t: -cand[t])[:MAX_TAGS]
            out.append(tags)
    return out, assign_seconds


def spark_job(data, threads, work):
    """The whole job in Spark MLlib, local mode. Returns seconds."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import RegexTokenizer, Word2Vec
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StringType

    spark = (SparkSession.builder.master(f"local[{threads}]").appName("tag-bench")
             .config("spark.driver.memory", "8g").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", str(threads)).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    start = time.perf_counter()
    df = spark.read.parquet(str(data)).select("id", "summary").where(F.col("summary").isNotNull())
    tokens = RegexTokenizer(inputCol="summary", outputCol="tokens", pattern=r"[^\p{L}\p{N}]+",
                            toLowercase=True).transform(df).cache()
    w2v = Word2Vec(vectorSize=100, windowSize=5, minCount=5, maxIter=5, numPartitions=threads,
                   seed=1, inputCol="tokens", outputCol="vec").fit(tokens)
    # Titles without a known word have a zero vector, which Spark's cosine
    # k-means rejects: they are clustered by nobody and get no tags.
    vecs = w2v.transform(tokens)
    nonzero = F.exists(vector_to_array("vec"), lambda x: x != 0)
    empty = vecs.where(~nonzero).select("id", F.array().cast(ArrayType(StringType())).alias("tags"))
    vecs = vecs.where(nonzero).cache()
    km = KMeans(k=100, maxIter=20, seed=1, featuresCol="vec", predictionCol="cluster",
                distanceMeasure="cosine").fit(vecs)
    lists = []
    for centre in km.clusterCenters():
        syn = w2v.findSynonymsArray(Vectors.dense(centre), CANDIDATES)
        lists.append(dict(syn))
    lists_b = spark.sparkContext.broadcast(lists)

    @F.udf(ArrayType(StringType()))
    def tag(toks, cl):
        cand = lists_b.value[cl]
        return sorted({t for t in toks if t in cand}, key=lambda t: -cand[t])[:MAX_TAGS]

    tagged = km.transform(vecs).select("id", tag("tokens", "cluster").alias("tags")).unionByName(empty)
    tagged.write.mode("overwrite").parquet(str(work / "spark_tagged"))
    seconds = time.perf_counter() - start
    spark.stop()
    return seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--naive-sample", type=int, default=20000)
    p.add_argument("--skip-spark", action="store_true")
    args = p.parse_args()

    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-tag-"))
    wh = work / "wh"
    titles = [t for t in pq.read_table(args.data, columns=["summary"]).column("summary").to_pylist() if t is not None]
    n = len(titles)
    print(f"{n:,} titles, {args.threads} threads", flush=True)

    q_job, q_mib = quiver_job(wh, args.data, args.threads)
    print(f"quiver job done ({q_job:.1f}s, peak {q_mib:,.0f} MiB)", flush=True)
    base, _, _ = quiver_sql(wh, "SELECT sum(length(summary)) AS n FROM pypi")
    tag_s, tag_mib, _ = quiver_sql(wh, "SELECT sum(cardinality(tag('t', summary))) AS n FROM pypi")
    q_rate = n / max(tag_s - base, 1e-9)
    print(f"quiver tag: {tag_s:.2f}s whole query, {base:.2f}s reading the titles", flush=True)

    words, vectors, centroids, lists = export_models(wh, work)
    with threadpool_limits(args.threads):
        sample = titles[: args.naive_sample]
        t0 = time.perf_counter()
        naive(sample, words, vectors)
        naive_rate = len(sample) / (time.perf_counter() - t0)
        print("naive done", flush=True)
        t0 = time.perf_counter()
        np_tags, assign_s = cluster_method(titles, words, vectors, centroids, lists)
        np_rate = n / (time.perf_counter() - t0)
        print("numpy cluster method done", flush=True)

    # The numpy cluster method uses quiver's lists; quiver's own tags must agree.
    _, _, q_rows = quiver_sql(wh, "SELECT summary, tag('t', summary) AS tags FROM pypi WHERE id % 1000 = 7")
    by_title = {r["summary"]: r["tags"] for r in q_rows}
    np_by_title = dict(zip(titles, np_tags))
    agree = sum(1 for t, tags in by_title.items() if np_by_title.get(t) == tags)

    rows = [
        ["quiver tag()", f"{q_rate:,.0f}", f"{q_rate / args.threads:,.0f}", "1.00x"],
        ["numpy cluster method", f"{np_rate:,.0f}", f"{np_rate / args.threads:,.0f}", f"{q_rate / np_rate:,.1f}x"],
        ["  (its assignment alone)", f"{n / assign_s:,.0f}", f"{n / assign_s / args.threads:,.0f}", "-"],
        [f"naive numpy (first {len(sample):,})", f"{naive_rate:,.0f}", f"{naive_rate / args.threads:,.0f}",
         f"{q_rate / naive_rate:,.0f}x"],
    ]
    print()
    table(rows, ["method", "titles/s", "titles/s per core", "quiver is faster by"])
    print(f"\nquiver and the numpy cluster method give the same tags for {agree} of {len(by_title)} sampled titles")
    print(f"quiver tag query: whole query {n / tag_s:,.0f} titles/s, peak {tag_mib:,.0f} MiB")

    if not args.skip_spark:
        s_job = spark_job(args.data, args.threads, work)
        print()
        table([["quiver", f"{q_job:.1f}", "1.00x"], ["Spark MLlib", f"{s_job:.1f}", f"{s_job / q_job:.1f}x"]],
              ["whole job (train word2vec, k-means, tag every title)", "seconds", "quiver is faster by"])


if __name__ == "__main__":
    main()
