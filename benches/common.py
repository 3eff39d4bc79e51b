"""Helpers shared by the comparison scripts in benches/: finding the quiver
binary and the data, tokenizing as quiver does, and running a child process
while measuring its wall time and peak memory."""
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "pypi-summaries.parquet"

# quiver's tokenizer: maximal runs of Unicode letters and digits, lower-cased.
TOKEN = re.compile(r"[^\W_]+")


def tokenize(text):
    return TOKEN.findall(text.lower()) if text else []


def quiver_binary():
    """The release binary: $QUIVER_BIN, else under $CARGO_TARGET_DIR or ./target."""
    if os.environ.get("QUIVER_BIN"):
        return os.environ["QUIVER_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    path = pathlib.Path(target) / "release" / "quiver"
    if not path.exists():
        sys.exit(f"build it first: cargo build --release (looked for {path})")
    return str(path)


def run_measured(cmd, env=None):
    """Runs `cmd`; returns (seconds, peak RSS in MiB, stdout). Output goes to
    files, not pipes, so a large result cannot block the child. The peak is
    taken by GNU time where there is one: a child forked from this (large)
    Python process would otherwise count the parent's pages it started with."""
    gnu_time = "/usr/bin/time"
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f, \
            tempfile.NamedTemporaryFile(mode="r") as rss_f:
        wrapped = [gnu_time, "-f", "%M", "-o", rss_f.name] + cmd if os.path.exists(gnu_time) else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out_f, stderr=err_f, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if wrapped is not cmd:
            usage_kib = int(rss_f.read().strip().splitlines()[-1] or 0)
        else:
            usage_kib = usage.ru_maxrss
        out_f.seek(0)
        err_f.seek(0)
        out = out_f.read().decode()
        err = err_f.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{cmd[0]} failed ({code}):\n{err}")
    return seconds, usage_kib / 1024, out


def quiver_sql(warehouse, sql, fmt="json"):
    """Runs SQL with the quiver binary; returns (seconds, peak MiB, rows of the last statement)."""
    cmd = [quiver_binary(), "--warehouse", str(warehouse), "--format", fmt, "-c", sql]
    seconds, mib, out = run_measured(cmd)
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("["):
            rows = json.loads(line)
    return seconds, mib, rows


def quiver_warm(warehouse, sql, runs=3, warmups=1, setup="SELECT 1"):
    """`sql` run `warmups` + `runs` times in one quiver process after
    `setup` (a warm process, as DuckDB and DataFusion are warm in the
    caller's): the best of the statement's own elapsed times after the
    warm-ups, in seconds. The shell prints them only on a terminal, hence
    `script`."""
    import shlex

    args = [quiver_binary(), "--warehouse", str(warehouse), "-c", setup]
    for _ in range(warmups + runs):
        args += ["-c", sql]
    out = subprocess.run(["script", "-qc", shlex.join(args), "/dev/null"],
                         check=True, capture_output=True, text=True).stdout
    times = [float(t) for t in re.findall(r"in ([0-9.]+) s", out)]
    if len(times) != 1 + warmups + runs:
        raise RuntimeError(f"expected {1 + warmups + runs} timings from quiver, got {len(times)}: {out[-2000:]}")
    return min(times[1 + warmups:])


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
