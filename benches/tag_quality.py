"""Tag quality and speed: the tagger learned from texts (`CREATE MODEL ...
TYPE tagger ... AS SELECT title ...`, default options) beside the previous
tagger (built from its models alone: each centre's 300 nearest words, 5
tags, as the README's pipeline had it), in the same run, with the same
word2vec and k-means models.

    python benches/tag_quality.py [--rows 1000000] [--samples 50]

Prints, for the 832,949 PyPI summaries (../shared/data) and the demo
catalogue (`quiver demo --rows N`): coverage (share of texts with at least
one tag), tags per text, for the demo the shares of titles whose true
product type is among the tags and is the first tag (a tag is right when
one of its words is the type's word: "t-shirt" for "shirt"), tagging rate
(warm, best of 3: `SELECT sum(cardinality(tag(...)))` less reading the
texts), peak memory of that query, the seed's three examples, and a seeded
random sample of PyPI summaries with their tags (docs/models.md lists it).
"""
import argparse
import json
import pathlib
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import DATA, quiver_binary, quiver_sql, quiver_warm, table  # noqa: E402

SEED_EXAMPLES = ["Euro Delight Pizza", "stripe crewneck t-shirt",
                 "Otterbox case for Apple iPhone pink"]


def words(expr):
    """The words of a tag (or of tags joined by spaces), hyphens as spaces."""
    return f"string_to_array(replace({expr}, '-', ' '), ' ')"


def speed(wh, model, table_name, text, n, setup):
    read = quiver_warm(wh, f"SELECT sum(length({text})) FROM {table_name}", setup=setup)
    tag = quiver_warm(wh, f"SELECT sum(cardinality(tag('{model}', {text}))) FROM {table_name}", setup=setup)
    _, base_mib, _ = quiver_sql(wh, f"{setup}; SELECT sum(length({text})) FROM {table_name}")
    _, mib, _ = quiver_sql(wh, f"{setup}; SELECT sum(cardinality(tag('{model}', {text}))) FROM {table_name}")
    return n / max(tag - read, 1e-9), mib, base_mib


def examples(wh, model, setup="SELECT 1"):
    sql = ", ".join(f"tag('{model}', '{t}') AS e{i}" for i, t in enumerate(SEED_EXAMPLES))
    _, _, rows = quiver_sql(wh, f"{setup}; SELECT {sql}")
    return [rows[0][f"e{i}"] for i in range(len(SEED_EXAMPLES))]


def report(name, wh, table_name, text, n, type_word=None, setup="SELECT 1"):
    rows = []
    result = {}
    for label, model in [("previous (nearest 300, 5 tags)", "prev"), ("learned from texts (defaults)", "new")]:
        q = quality(wh, model, table_name, text, type_word, setup)
        rate, mib, base_mib = speed(wh, model, table_name, text, n, setup)
        result[model] = (q, rate, mib)
        row = [label, f"{100 * q['coverage']:.1f}%", f"{q['tags']:.2f}"]
        if type_word:
            row += [f"{100 * q['among']:.1f}%", f"{100 * q['first']:.1f}%"]
        row += [f"{rate:,.0f}", f"{mib:.0f} (reading only: {base_mib:.0f})"]
        rows.append(row)
    headers = ["tagger", "coverage", "tags per text"]
    if type_word:
        headers += ["type among tags", "type first"]
    headers += ["texts/s (2 cores)", "peak MiB"]
    print(f"\n## {name} ({n:,} texts)\n")
    table(rows, headers)
    print(f"\nspeed ratio learned/previous: {result['new'][1] / result['prev'][1]:.2f}x")
    return result


def quality(wh, model, table_name, text, type_word, setup):
    # `setup` (an external table) runs in the same process.
    cols = quality_sql(model, text, type_word)
    _, _, rows = quiver_sql(wh, f"{setup}; SELECT {cols} FROM {table_name} WHERE {text} IS NOT NULL")
    return rows[0]


def quality_sql(model, text, type_word):
    q = f"'{model}'"
    cols = [f"avg(CASE WHEN cardinality(tag({q}, {text})) > 0 THEN 1.0 ELSE 0.0 END) AS coverage",
            f"avg(cardinality(tag({q}, {text}))) AS tags"]
    if type_word:
        joined = f"array_to_string(tag({q}, {text}), ' ')"
        cols += [f"avg(CASE WHEN array_has({words(joined)}, {type_word}) THEN 1.0 ELSE 0.0 END) AS among",
                 f"avg(CASE WHEN array_has({words(f'tag({q}, {text})[1]')}, {type_word}) THEN 1.0 ELSE 0.0 END) AS first"]
    return ", ".join(cols)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="demo catalogue rows")
    ap.add_argument("--samples", type=int, default=50, help="PyPI summaries to list with their tags")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="quiver-tag-quality-"))

    # PyPI: the README's pipeline, then both taggers.
    pypi = work / "pypi"
    ext = f"CREATE EXTERNAL TABLE IF NOT EXISTS pypi STORED AS PARQUET LOCATION '{DATA}'"
    quiver_sql(pypi, f"{ext}; "
               "CREATE MODEL w TYPE word2vec OPTIONS (dim = 100, min_count = 5, seed = 1) AS SELECT summary FROM pypi; "
               "CREATE MODEL c TYPE kmeans OPTIONS (k = 100, distance = 'cosine', seed = 1) AS SELECT embed('w', summary) FROM pypi; "
               "CREATE MODEL prev TYPE tagger OPTIONS (embedding = 'w', clusters = 'c', candidates = 300, max_tags = 5); "
               "CREATE MODEL new TYPE tagger OPTIONS (embedding = 'w', clusters = 'c') AS SELECT summary FROM pypi")
    _, _, n = quiver_sql(pypi, f"{ext}; SELECT count(summary) AS n FROM pypi")
    n = n[0]["n"]
    report("PyPI summaries", pypi, "pypi", "summary", n, setup=ext)
    _, _, ids = quiver_sql(pypi, f"{ext}; SELECT id FROM pypi WHERE summary IS NOT NULL ORDER BY id")
    rng = random.Random(7)
    pick = sorted(rng.sample([r["id"] for r in ids], args.samples))
    _, _, rows = quiver_sql(pypi, f"{ext}; SELECT id, summary, tag('new', summary) AS tags, tag('prev', summary) AS prev "
                            f"FROM pypi WHERE id IN ({', '.join(map(str, pick))}) ORDER BY id")
    print(f"\n{args.samples} PyPI summaries drawn at random (seed 7), with their tags (learned | previous):\n")
    for r in rows:
        summary = (r["summary"] or "").replace("|", "\\|").replace("\n", " ")
        print(f"| {summary[:120]} | {', '.join(r['tags'])} | {', '.join(r['prev'])} |")

    # The demo catalogue: `quiver demo` builds the learned tagger as title_tags.
    demo = work / "demo"
    subprocess.run([quiver_binary(), "demo", "--warehouse", str(demo), "--rows", str(args.rows),
                    "--report", str(work / "demo-report.html")],
                   check=True, stdout=subprocess.DEVNULL)
    quiver_sql(demo, "CREATE MODEL prev TYPE tagger OPTIONS (embedding = 'title_vectors', "
                     "clusters = 'title_clusters', candidates = 300, max_tags = 5); "
                     "CREATE MODEL new TYPE tagger OPTIONS (embedding = 'title_vectors', "
                     "clusters = 'title_clusters') AS SELECT title FROM products")
    report("Demo catalogue", demo, "products", "title", args.rows, type_word="type_word")
    print("\nThe seed's examples, tagged by the demo's models:\n")
    prev, new = examples(demo, "prev"), examples(demo, "new")
    table([[t, json.dumps(p), json.dumps(x)] for t, p, x in zip(SEED_EXAMPLES, prev, new)],
          ["title", "previous", "learned"])


if __name__ == "__main__":
    main()
