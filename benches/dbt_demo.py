"""`dbt build` of sql/dbt_demo beside `quiver demo`, on the same catalogue.

Both run the same four statements (word2vec, k-means, tagger, the tagged
table) on the same generated titles, in the same release binary:
- quiver demo: the steps after the catalogue, from its own per-step
  timings (its report and the catalogue's generation are left out);
- dbt build: the whole command, wall time, in the adapter's local mode (it
  starts quiver serve itself), which also runs the project's 5 data tests;
  and dbt's fixed start-up, measured as `dbt build` of a selection with no
  nodes (parse, adapter, no server).
The ratio is (dbt build - start-up) / quiver demo's pipeline.

  python benches/dbt_demo.py [--rows 1000000]

Needs dbt-core with the adapter importable: run it with the test venv's
python (~/.cache/quiver-test-venv) and the release binary
(cargo build --release).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, quiver_binary, table


def timed(cmd, env=None, cwd=None):
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return seconds, out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2,
                        help="runs of each, alternating; the best of each is kept")
    args = parser.parse_args()
    quiver = quiver_binary()
    work = Path(tempfile.mkdtemp(prefix="dbt-demo-bench-"))
    pipelines, builds, startups = [], [], []
    try:
        project = work / "project"
        shutil.copytree(ROOT / "sql" / "dbt_demo", project)
        warehouse = work / "dbt"
        for _ in range(args.runs):
            pipeline, build, startup = one_run(quiver, args.rows, work, warehouse, project)
            pipelines.append(pipeline)
            builds.append(build)
            startups.append(startup)
        # Sanity: the same answers, the share of titles tagged.
        share = [
            subprocess.run(
                [quiver, "--warehouse", str(w), "--format", "csv", "-c",
                 "SELECT avg(CASE WHEN array_has(tags, type_word) THEN 1.0 ELSE 0.0 END) FROM tagged_products"],
                check=True, capture_output=True, text=True,
            ).stdout.splitlines()[1]
            for w in (work / "demo", warehouse)
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pipeline, build, startup = min(pipelines), min(builds), min(startups)
    print(f"runs: quiver demo {pipelines}, dbt build {builds}, start-up {startups}")
    print(f"{args.rows:,} titles; type among tags: quiver demo {float(share[0]):.3f}, dbt {float(share[1]):.3f}")
    table(
        [
            ["quiver demo: steps 2-5 (the 4 statements)", f"{pipeline:.1f}", ""],
            ["dbt build (4 models + 5 tests, local mode)", f"{build:.1f}", ""],
            ["dbt's fixed start-up (build of no nodes)", f"{startup:.1f}", ""],
            ["dbt build - start-up", f"{build - startup:.1f}", f"{(build - startup) / pipeline:.2f}x"],
        ],
        ["what (best of each)", "seconds", "vs quiver demo"],
    )


def one_run(quiver, rows, work, warehouse, project):
    """quiver demo's pipeline, then dbt build of the demo project on the
    same catalogue (written fresh), then dbt's start-up: seconds of each."""
    # quiver demo, whole job; the pipeline's steps from its own timings.
    shutil.rmtree(work / "demo", ignore_errors=True)
    _, out = timed([quiver, "demo", "--rows", str(rows), "-w", str(work / "demo"),
                    "--report", str(work / "demo-report.html")])
    steps = [float(s) for s in re.findall(r"^\s+([0-9.]+) s: sql/demo/", out, re.M)]
    if len(steps) != 4:
        sys.exit(f"expected 4 pipeline steps in quiver demo's output:\n{out}")
    pipeline = sum(steps)

    # The same catalogue, then dbt build of the demo project.
    shutil.rmtree(warehouse, ignore_errors=True)
    timed([quiver, "demo", "--catalogue-only", "--rows", str(rows), "-w", str(warehouse)])
    env = dict(os.environ)
    env["PATH"] = f"{Path(quiver).parent}:{env['PATH']}"
    env["QUIVER_BIN"] = quiver
    env["QUIVER_DEMO_WAREHOUSE"] = str(warehouse)
    env["PYTHONPATH"] = str(ROOT / "adapters" / "dbt-quiver")
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    dbt = [sys.executable, "-m", "dbt.cli.main"]
    common = ["--project-dir", str(project), "--profiles-dir", str(project)]
    startup, _ = timed(dbt + ["build", "--select", "tag:no_such_tag"] + common, env=env)
    build, out = timed(dbt + ["build"] + common, env=env)
    if "PASS=9" not in out:
        sys.exit(f"dbt build did not pass all 9 nodes:\n{out[-3000:]}")
    return pipeline, build, startup


if __name__ == "__main__":
    main()
