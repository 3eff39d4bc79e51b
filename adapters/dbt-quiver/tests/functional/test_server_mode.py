"""The profile's server mode (host, port, token) against a `quiver serve`
started here, and a client lost mid-run: the node fails, the server and
the warehouse do not."""

import os
import signal
import subprocess
import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pytest
import yaml

SECRET = "dbt-test-secret-1234"

SLOW_MODEL = """
{{ config(materialized='table') }}
select count(*) as n from generate_series(1, 20000000000) t(x) where x % 7 = 3
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("served")
    log = open(warehouse / "server.log", "w")
    process = subprocess.Popen(
        [
            os.environ["QUIVER_BIN"],
            "--warehouse",
            str(warehouse),
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--token",
            f"dbt:{SECRET}",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    ready = process.stdout.readline()
    assert ready.startswith("quiver serve: listening on grpc://"), ready
    port = int(ready.split()[4].rsplit(":", 1)[1])
    yield port, warehouse / "server.log"
    process.terminate()
    process.wait(timeout=30)


def connect(port):
    return flight_sql.connect(
        f"grpc://127.0.0.1:{port}",
        db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {SECRET}"},
        autocommit=True,
    )


def scalar(port, sql):
    with connect(port) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def project(tmp_path, port, token, models):
    (tmp_path / "models").mkdir()
    for name, text in models.items():
        (tmp_path / "models" / name).write_text(text)
    (tmp_path / "dbt_project.yml").write_text(
        yaml.safe_dump({"name": "served", "version": "1.0", "config-version": 2, "profile": "served"})
    )
    (tmp_path / "profiles.yml").write_text(
        yaml.safe_dump(
            {
                "served": {
                    "target": "t",
                    "outputs": {
                        "t": {
                            "type": "quiver",
                            "host": "127.0.0.1",
                            "port": port,
                            "token": token,
                            "schema": "served",
                            "threads": 1,
                        }
                    },
                }
            }
        )
    )
    return tmp_path


def dbt(path, *args):
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_LOG_PATH=str(path / "logs"))
    return subprocess.Popen(
        [sys.executable, "-m", "dbt.cli.main", *args, "--project-dir", str(path), "--profiles-dir", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_server_mode_with_a_token(server, tmp_path):
    server, _ = server
    path = project(tmp_path, server, SECRET, {"answer.sql": "select 42 as answer"})
    run = dbt(path, "run")
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 0, out
    assert scalar(server, "select answer from served.answer") == [(42,)]


def test_a_wrong_token_is_a_connection_error(server, tmp_path):
    server, _ = server
    path = project(tmp_path, server, "not-the-secret-0000", {"answer.sql": "select 1 as x"})
    run = dbt(path, "run")
    out, _ = run.communicate(timeout=300)
    assert run.returncode != 0
    assert "could not connect to quiver at grpc://127.0.0.1" in out, out


def test_a_client_killed_mid_run_leaves_server_and_tables_whole(server, tmp_path):
    server, server_log = server
    path = project(tmp_path, server, SECRET, {"slow.sql": SLOW_MODEL})
    seen = server_log.stat().st_size
    run = dbt(path, "run")
    for line in run.stdout:
        if "START sql table model served.slow" in line:
            break
    else:
        pytest.fail("dbt never started the model")
    # The server logs the statement's prepare when it has planned it; the
    # run (GetFlightInfo) follows at once and takes seconds. Then the
    # client is lost.
    deadline = time.monotonic() + 120
    while "rpc=CreatePreparedStatement kind=create-table" not in server_log.read_text()[seen:]:
        assert time.monotonic() < deadline, "the model's statement never reached the server"
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    # The server carries on, and nothing half-made is left.
    assert scalar(server, "select 1 + 1") == [(2,)]
    tables = scalar(
        server,
        "select table_name from information_schema.tables where table_schema = 'served' order by 1",
    )
    assert ("slow",) not in tables and ("slow__dbt_tmp",) not in tables, tables
    # And the next run builds it (a smaller query: the same model name).
    (path / "models" / "slow.sql").write_text("{{ config(materialized='table') }} select 7 as n")
    again = dbt(path, "run")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert scalar(server, "select n from served.slow") == [(7,)]
