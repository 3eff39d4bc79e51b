"""Starting and stopping `quiver serve` for the Flight SQL benchmarks."""
import os
import subprocess

from common import quiver_binary


class Server:
    """`quiver serve` on a free loopback port; waits for its readiness line."""

    def __init__(self, warehouse, *args):
        self.proc = subprocess.Popen(
            [quiver_binary(), "--warehouse", str(warehouse), "serve", "--bind", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"quiver serve did not start: {line!r}")
        self.url = next(w for w in line.split() if w.startswith("grpc"))

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()


def connect(url):
    import adbc_driver_flightsql.dbapi as flight_sql

    return flight_sql.connect(url, autocommit=True)


def cpu_count():
    return os.cpu_count() or 1
