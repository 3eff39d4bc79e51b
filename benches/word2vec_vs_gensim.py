"""word2vec: quiver beside gensim 4 on the same titles, tokens and
hyperparameters, printing ratios (see docs/benchmarks.md).

    python benches/word2vec_vs_gensim.py [--threads 2] [--algorithms skipgram,cbow]

Needs: gensim, numpy, scipy, pyarrow (pip), and `cargo build --release`.
Measures, per algorithm: training words/s (training phase only, both
sides), peak memory of the whole process, the per-epoch loss, and the
neighbour overlap of the 1,000 most frequent words against gensim, next to
the overlap of two gensim runs with different seeds. Then `embed` over every
title against numpy's sparse mean-vector, and the same query over a
2-dimensional model of the same vocabulary: everything `embed` does but
the vector sums, a bound on how far any faster arithmetic could take the
ratio. gensim also loads quiver's exported vectors, which checks the
interchange format.
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import DATA, quiver_binary, quiver_sql, quiver_warm, run_measured, table, tokenize  # noqa: E402

DIM, WINDOW, MIN_COUNT, NEGATIVE, SAMPLE, EPOCHS = 100, 5, 5, 5, 1e-3, 5


def load_titles(path):
    import pyarrow.parquet as pq

    return [t for t in pq.read_table(path, columns=["summary"]).column("summary").to_pylist()]


def gensim_child(args):
    """Runs in a child process so that its peak memory is its own."""
    from gensim.models import Word2Vec

    sentences = [s for s in (tokenize(t) for t in load_titles(args.data)) if s]
    model = Word2Vec(
        vector_size=DIM, window=WINDOW, min_count=MIN_COUNT, negative=NEGATIVE, sample=SAMPLE,
        sg=1 if args.algorithm == "skipgram" else 0, workers=args.threads, seed=args.seed,
        epochs=EPOCHS, compute_loss=False,
    )
    model.build_vocab(sentences)
    start = time.perf_counter()
    effective, raw = model.train(sentences, total_examples=model.corpus_count, epochs=EPOCHS)
    seconds = time.perf_counter() - start
    model.wv.save_word2vec_format(args.out)
    print(json.dumps({"seconds": seconds, "raw": raw, "effective": effective, "vocab": len(model.wv)}))


def run_gensim(args, algorithm, seed, out):
    cmd = [sys.executable, __file__, "--child", "--algorithm", algorithm, "--seed", str(seed),
           "--threads", str(args.threads), "--data", str(args.data), "--out", out]
    wall, mib, stdout = run_measured(cmd)
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall=wall, mib=mib)
    return result


def overlap(kv_a, kv_b, words, k=10):
    total = 0.0
    for w in words:
        a = {x for x, _ in kv_a.most_similar(w, topn=k)}
        b = {x for x, _ in kv_b.most_similar(w, topn=k)}
        total += len(a & b) / k
    return total / len(words)


def warm_embed(wh, model):
    """The same query in one quiver process whose model is already loaded
    (as in a server or a shell session, and as numpy's side has its vectors
    in memory before its clock starts): the statement's own elapsed time."""
    return quiver_warm(wh, f"SELECT count(embed('{model}', summary)) FROM pypi", runs=1, warmups=0,
                       setup=f"SELECT embed('{model}', 'x') IS NULL")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--algorithms", default="skipgram,cbow")
    p.add_argument("--child", action="store_true")
    p.add_argument("--algorithm", default="skipgram")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    args = p.parse_args()
    if args.child:
        return gensim_child(args)

    from gensim.models import KeyedVectors

    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-w2v-"))
    wh = work / "wh"
    quiver_sql(wh, f"CREATE EXTERNAL TABLE pypi STORED AS PARQUET LOCATION '{args.data}'")
    rows = []
    for algorithm in args.algorithms.split(","):
        exported = work / f"quiver-{algorithm}.txt"
        sql = (
            f"CREATE OR REPLACE MODEL m_{algorithm} TYPE word2vec OPTIONS (dim = {DIM}, window = {WINDOW}, "
            f"min_count = {MIN_COUNT}, negative = {NEGATIVE}, sample = {SAMPLE}, epochs = {EPOCHS}, "
            f"algorithm = '{algorithm}', threads = {args.threads}, seed = 1) AS SELECT summary FROM pypi; "
            f"COPY MODEL m_{algorithm} TO '{exported}'; "
            f"SELECT metric, step, value FROM model_metrics('m_{algorithm}')"
        )
        # gensim and quiver alternate (gensim seed 1, quiver, gensim seed 2,
        # quiver again) and each quiver run is compared with the gensim run
        # just before it: this machine's speed for memory-bound work swings
        # by up to 2x over minutes, so runs far apart in time do not compare.
        pairs = []
        for seed in (1, 2):
            g = run_gensim(args, algorithm, seed, str(work / f"gensim-{algorithm}-{seed}.txt"))
            wall, mib, metrics = quiver_sql(wh, sql)
            m = {}
            for r in metrics:
                m.setdefault(r["metric"], []).append(r["value"])
            pairs.append((g, wall, mib, m))
            ratio = (m["trained_tokens"][0] * EPOCHS / m["train_seconds"][0]) / (g["raw"] / g["seconds"])
            print(f"{algorithm} pair {seed}: gensim {g['seconds']:.1f}s, quiver {m['train_seconds'][0]:.1f}s "
                  f"training: {ratio:.2f}x", flush=True)
        (g1, wall, mib, m), g2 = pairs[0], pairs[1][0]
        q_seconds = m["train_seconds"][0]
        q_words = m["trained_tokens"][0] * EPOCHS
        g_words = g1["raw"]
        kv_g1 = KeyedVectors.load_word2vec_format(str(work / f"gensim-{algorithm}-1.txt"))
        kv_g2 = KeyedVectors.load_word2vec_format(str(work / f"gensim-{algorithm}-2.txt"))
        kv_q = KeyedVectors.load_word2vec_format(str(exported))  # gensim loads ours
        top = [w for w in kv_g1.index_to_key[:1000] if w in kv_q.key_to_index]
        ov_gg = overlap(kv_g1, kv_g2, top)
        ov_qg = overlap(kv_q, kv_g1, top)
        loss = m["loss"]
        falls = all(b < a for a, b in zip(loss, loss[1:]))
        rows.append([
            algorithm,
            f"{g_words / g1['seconds']:,.0f}",
            f"{q_words / q_seconds:,.0f}",
            f"{(q_words / q_seconds) / (g_words / g1['seconds']):.2f}x",
            f"{g1['mib']:,.0f} / {mib:,.0f}",
            f"{ov_gg:.3f} / {ov_qg:.3f}",
            f"{len(kv_g1)} / {len(kv_q)}",
            ("falls" if falls else "ROSE") + " " + " ".join(f"{x:.3f}" for x in loss),
        ])
        print(f"{algorithm}: gensim {g1['seconds']:.1f}s training ({g1['wall']:.1f}s wall), "
              f"quiver {q_seconds:.1f}s training ({wall:.1f}s wall incl. reading)", flush=True)
    print()
    table(rows, ["algorithm", "gensim words/s", "quiver words/s", "ratio", "peak MiB gensim / quiver",
                 "overlap@10 gensim-gensim / quiver-gensim", "vocab gensim / quiver", "quiver loss per epoch"])

    # embed over every title: quiver's SQL against numpy's sparse mean.
    import numpy as np
    import scipy.sparse as sp

    algorithm = args.algorithms.split(",")[0]
    kv = KeyedVectors.load_word2vec_format(str(work / f"quiver-{algorithm}.txt"))

    def numpy_means():
        start = time.perf_counter()
        titles = load_titles(args.data)
        index = kv.key_to_index
        indptr, cols = [0], []
        for t in titles:
            ids = [index[w] for w in tokenize(t) if w in index]
            cols.extend(ids)
            indptr.append(len(cols))
        m = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(len(titles), len(kv)))
        counts = np.asarray(m.sum(axis=1)).ravel()
        means = (m @ kv.vectors) / np.maximum(counts, 1)[:, None]
        return time.perf_counter() - start, len(titles), counts, means

    # Three runs of each, interleaved, medians compared: a single run of
    # either moves by 20% or more on this machine.
    numpy_runs, quiver_runs, warm_runs = [], [], []
    for _ in range(3):
        numpy_s, n, counts, means = numpy_means()
        numpy_runs.append(numpy_s)
        del means
        sec, mib, r = quiver_sql(wh, f"SELECT count(embed('m_{algorithm}', summary)) AS embedded FROM pypi")
        quiver_runs.append((sec, mib, r))
        warm_runs.append(warm_embed(wh, f"m_{algorithm}"))
    numpy_s = statistics.median(numpy_runs)
    sec = statistics.median(s for s, _, _ in quiver_runs)
    mib = max(m for _, m, _ in quiver_runs)
    r = quiver_runs[0][2]
    print()
    print("numpy runs (s): " + ", ".join(f"{x:.2f}" for x in numpy_runs))
    print("quiver runs (s): " + ", ".join(f"{x:.3f}" for x, _, _ in quiver_runs))
    warm = statistics.median(warm_runs)
    print("quiver warm runs (s): " + ", ".join(f"{x:.3f}" for x in warm_runs)
          + f"; median {warm:.3f} s, {n / warm:,.0f} titles/s, {numpy_s / warm:.1f}x numpy")
    table([[f"{n:,}", f"{n / numpy_s:,.0f}", f"{n / sec:,.0f}", f"{numpy_s / sec:.1f}x", f"{mib:,.0f}",
            r[0]["embedded"], int((counts > 0).sum())]],
          ["titles", "numpy sparse titles/s (median)", "quiver embed titles/s (median)", "ratio",
           "quiver peak MiB", "quiver non-NULL", "numpy non-empty"])

    # What embed costs without its vectors: a 2-dimensional model over the
    # same vocabulary (same min_count) tokenizes, hashes, looks up and reads
    # exactly as the real one does, and sums and writes almost nothing. Its
    # warm time bounds from below what any vector arithmetic can reach
    # with this tokenizer and lookup.
    quiver_sql(wh, f"CREATE OR REPLACE MODEL m_floor TYPE word2vec OPTIONS (dim = 2, min_count = {MIN_COUNT}, "
                   f"epochs = 1, threads = {args.threads}, seed = 1) AS SELECT summary FROM pypi")
    floor_runs = [warm_embed(wh, "m_floor") for _ in range(3)]
    floor = statistics.median(floor_runs)
    print(f"embed without vectors (dim 2, warm) runs (s): " + ", ".join(f"{x:.3f}" for x in floor_runs)
          + f"; median {floor:.3f} s: at most {numpy_s / floor:.1f}x numpy for any dim-{DIM} embed "
          + f"with this tokenizer and lookup (dim {DIM} warm: {numpy_s / warm:.1f}x)")


if __name__ == "__main__":
    main()
