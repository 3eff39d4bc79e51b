"""Fetching a 10-million-row result over Flight SQL on loopback into a
pyarrow Table, with two clients: the ADBC driver a notebook uses (Go, via
the C data interface), and pyarrow's own Flight client (C++) sending the
Flight SQL command itself. Against the same query run in process (the
quiver binary executing it and writing the Arrow IPC stream to /dev/null).
Target: Flight SQL at most 1.5x in process.

    cargo build --release
    python benches/flight_fetch.py [--rows N] [--runs R]
"""
import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time

from common import quiver_binary, quiver_sql, table
from flight_server import Server, connect

QUERY = "SELECT * FROM big"


def varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def field(number, payload):
    """A length-delimited protobuf field."""
    return bytes([(number << 3) | 2]) + varint(len(payload)) + payload


def statement_query(sql):
    """Flight SQL's CommandStatementQuery in a protobuf Any, as clients send it."""
    command = field(1, sql.encode())
    return field(1, b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery") + field(2, command)


def proc_cpu(pid):
    """User plus system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as wh:
        quiver_sql(wh, f"CREATE TABLE big AS SELECT value AS id, value * 0.5 AS x, "
                       f"'package ' || (value % 100000) AS name FROM generate_series(1, {args.rows})")

        def in_process(sql):
            start = time.perf_counter()
            subprocess.run([quiver_binary(), "--warehouse", wh, "--format", "arrow", "-c", sql],
                           check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - start

        startup = statistics.median(in_process("SELECT 1") for _ in range(3))
        before = children_cpu()
        local = [in_process(QUERY) for _ in range(args.runs)]
        local_cpu = (children_cpu() - before) / args.runs

        with Server(wh) as server:
            conn = connect(server.url)
            cur = conn.cursor()
            cur.execute("SELECT 1")
            cur.fetchall()
            remote = []
            for _ in range(args.runs):
                start = time.perf_counter()
                cur.execute(QUERY)
                result = cur.fetch_arrow_table()
                remote.append(time.perf_counter() - start)
                assert result.num_rows == args.rows, result.num_rows
            cur.close()
            conn.close()

            import pyarrow.flight as flight

            client = flight.FlightClient(server.url.replace("grpc://", "grpc+tcp://"))
            cpp, server_cpu, client_cpu = [], [], []
            for _ in range(args.runs):
                start, served, cpu = time.perf_counter(), proc_cpu(server.proc.pid), time.process_time()
                info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(QUERY)))
                result = client.do_get(info.endpoints[0].ticket).read_all()
                cpp.append(time.perf_counter() - start)
                server_cpu.append(proc_cpu(server.proc.pid) - served)
                client_cpu.append(time.process_time() - cpu)
                assert result.num_rows == args.rows, result.num_rows
            client.close()

    l, r, c = statistics.median(local), statistics.median(remote), statistics.median(cpp)
    print(f"{args.rows:,} rows x 3 columns (BIGINT, DOUBLE, VARCHAR); median of {args.runs} runs")
    table(
        [
            ["in process (quiver --format arrow > /dev/null)", f"{l:.2f}", "1.00x"],
            ["  of which process start-up (SELECT 1)", f"{startup:.2f}", ""],
            ["Flight SQL over loopback, ADBC (fetch_arrow_table)", f"{r:.2f}", f"{r / l:.2f}x"],
            ["Flight SQL over loopback, pyarrow.flight (read_all)", f"{c:.2f}", f"{c / l:.2f}x"],
        ],
        ["path", "seconds", "vs in process"],
    )
    print(f"CPU per run: in process {local_cpu:.2f} s; pyarrow.flight fetch: server "
          f"{statistics.median(server_cpu):.2f} s, client {statistics.median(client_cpu):.2f} s")
    print(f"ratio: ADBC / in process = {r / l:.2f}, pyarrow.flight / in process = {c / l:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
