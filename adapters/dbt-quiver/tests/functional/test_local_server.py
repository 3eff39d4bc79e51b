"""The local mode's server outlives the thread that started it: dbt opens
connections from worker threads of pools it closes between phases, and
Linux sends the parent-death signal when the starting thread ends."""

import os
import threading

import adbc_driver_flightsql.dbapi as flight_sql

from dbt.adapters.quiver import local_server


def test_server_started_by_a_finished_thread_keeps_serving(tmp_path, monkeypatch):
    log = tmp_path / "serve.log"
    monkeypatch.setenv("QUIVER_SERVE_LOG", str(log))
    warehouse = str(tmp_path / "warehouse")
    started = {}

    def worker():
        started["uri"] = local_server.uri_for(warehouse, [])

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    process, uri = local_server._servers[(warehouse, ())]
    assert uri == started["uri"]
    # A new connection and a query, well after the thread ended (the old
    # launch had the server's SIGTERM handler stop it by now).
    for _ in range(3):
        with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT 41 + 1 AS n")
            assert cur.fetchall() == [(42,)]
    assert process.poll() is None
    assert "signal received" not in log.read_text()
    # The same server for the next caller, on this thread.
    assert local_server.uri_for(warehouse, []) == uri
    process.terminate()
    assert process.wait(timeout=30) == 0
    assert "signal received" in log.read_text()
