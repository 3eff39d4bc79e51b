"""quiver models as dbt nodes (materialized='quiver_model'), and the demo
tagging job as a dbt project (sql/dbt_demo) built with `dbt build`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dbt.tests.util import run_dbt

REPO = Path(__file__).resolve().parents[4]

PRODUCTS_SEED = "id,title\n" + "".join(
    f"{i},{title}\n"
    for i, title in enumerate(
        [
            "euro delight pepperoni pizza",
            "thin crust margherita pizza",
            "stripe crewneck t-shirt",
            "cotton crewneck t-shirt blue",
            "otterbox case for apple iphone pink",
            "clear case for apple iphone",
        ]
        * 20
    )
)

VECTORS = """
{{ config(materialized='quiver_model', model_type='word2vec',
          options={'dim': 8, 'min_count': 1, 'epochs': 2, 'seed': 7}) }}
select title from {{ ref('products') }}
"""

CLUSTERS = """
{{ config(materialized='quiver_model', model_type='kmeans',
          options={'k': 3, 'seed': 7}) }}
select embed({{ quiver_model_name('qm_vectors') }}, title) from {{ ref('products') }}
"""

EMBEDDED = """
select id, cluster_assign({{ quiver_model_name('qm_clusters') }},
                          embed({{ quiver_model_name('qm_vectors') }}, title)).cluster_id as cluster
from {{ ref('products') }}
"""


def quiver(warehouse: str, sql: str) -> str:
    out = subprocess.run(
        [os.environ["QUIVER_BIN"], "--warehouse", warehouse, "--format", "csv", "-c", sql],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


class TestQuiverModelNodes:
    @pytest.fixture(scope="class")
    def seeds(self):
        return {"products.csv": PRODUCTS_SEED}

    @pytest.fixture(scope="class")
    def models(self):
        return {
            "qm_vectors.sql": VECTORS,
            "qm_clusters.sql": CLUSTERS,
            "embedded.sql": EMBEDDED,
        }

    def test_models_train_in_dag_order_and_are_used(self, project, dbt_profile_target):
        run_dbt(["seed"])
        results = run_dbt(["run"])
        assert {r.node.name: r.status for r in results} == {
            "qm_vectors": "success",
            "qm_clusters": "success",
            "embedded": "success",
        }
        # The DAG follows quiver_model_name(): vectors before clusters
        # before the table that uses both.
        rows = project.run_sql(
            f"select count(*), count(distinct cluster), min(cluster), max(cluster) "
            f"from {project.test_schema}.embedded",
            fetch="one",
        )
        assert rows[0] == 120 and 1 <= rows[1] <= 3 and rows[2] >= 0 and rows[3] <= 2, rows

        models = quiver(dbt_profile_target["warehouse"], "SHOW MODELS")
        assert "qm_vectors,word2vec,1," in models and "qm_clusters,kmeans,1," in models, models

        # Run again: the models are replaced (retrained), a new version each.
        run_dbt(["run"])
        models = quiver(dbt_profile_target["warehouse"], "SHOW MODELS")
        assert "qm_vectors,word2vec,2," in models and "qm_clusters,kmeans,2," in models, models

    def test_lineage_in_the_manifest(self, project):
        run_dbt(["parse"])
        import json

        manifest = json.loads((Path(project.project_root) / "target" / "manifest.json").read_text())
        nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
        assert any("qm_vectors" in d for d in nodes["qm_clusters"]["depends_on"]["nodes"])
        deps = nodes["embedded"]["depends_on"]["nodes"]
        assert any("qm_vectors" in d for d in deps) and any("qm_clusters" in d for d in deps)


class TestQuiverModelBadConfig:
    @pytest.fixture(scope="class")
    def models(self):
        return {
            "bad_type.sql": "{{ config(materialized='quiver_model', model_type='svm') }} select 1 as x",
            "bad_option.sql": (
                "{{ config(materialized='quiver_model', model_type='word2vec',"
                " options={'dim': [1, 2]}) }} select 'a b' as title"
            ),
            "failing_sql.sql": (
                "{{ config(materialized='quiver_model', model_type='word2vec') }}"
                " select no_such_column from (select 1 as x) t"
            ),
        }

    def test_errors_name_the_node_and_the_cause(self, project):
        results = run_dbt(["run"], expect_pass=False)
        by_name = {r.node.name: r for r in results}
        assert by_name["bad_type"].status == "error"
        assert "model_type 'svm' is not one of word2vec, kmeans, tagger" in by_name["bad_type"].message
        assert "option dim = [1, 2]" in by_name["bad_option"].message
        failing = by_name["failing_sql"].message
        assert "failing_sql" in failing or "no_such_column" in failing, failing
        assert "no_such_column" in failing, failing


def test_demo_project_builds(tmp_path):
    """sql/dbt_demo, as a user runs it: `quiver demo --catalogue-only`, then
    `dbt build` in the local mode (the adapter starts quiver serve)."""
    warehouse = tmp_path / "warehouse"
    made = subprocess.run(
        [
            os.environ["QUIVER_BIN"],
            "demo",
            "--catalogue-only",
            "--rows",
            "20000",
            "--warehouse",
            str(warehouse),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "dbt_demo"
    shutil.copytree(REPO / "sql" / "dbt_demo", project)
    # A process of its own, as a user runs it (and apart from the driver
    # state of this one's other tests).
    build = subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", "build",
         "--project-dir", str(project), "--profiles-dir", str(project)],
        env=dict(os.environ, QUIVER_DEMO_WAREHOUSE=str(warehouse),
                 QUIVER_SERVE_LOG=str(tmp_path / "serve.log"),
                 DBT_LOG_PATH=str(tmp_path / "logs"), DBT_SEND_ANONYMOUS_USAGE_STATS="false"),
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout[-5000:]
    assert "PASS=9 WARN=0 ERROR=0" in build.stdout, build.stdout[-5000:]
    assert "OK created sql quiver_model model public.title_tags" in build.stdout
    assert "PASS most_titles_are_tagged" in build.stdout
    # One server for the whole build, stopped once, when dbt exits: not one
    # per worker-thread pool, each stopped as its pool closed (a query in
    # between met a refused connection).
    stops = (tmp_path / "serve.log").read_text().count("signal received")
    assert stops == 1, stops
    shares = quiver(
        str(warehouse),
        # A tag is right when one of its words is the type's word
        # ("t-shirt" for "shirt"), as quiver demo counts it.
        "SELECT count(*) AS n, avg(CASE WHEN array_has(string_to_array(replace("
        "array_to_string(tags, ' '), '-', ' '), ' '), type_word) THEN 1.0 ELSE 0.0 END) AS hit "
        "FROM tagged_products",
    ).splitlines()[1]
    n, hit = shares.split(",")
    assert int(n) == 20000 and float(hit) > 0.8, shares
