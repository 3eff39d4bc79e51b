"""The local mode: `quiver serve` started by the adapter on a warehouse.

One server per warehouse and dbt process, on a free loopback port (the
server binds port 0 and prints the address it got on its readiness line).
It is stopped when dbt exits, and on Linux it also stops if dbt is killed
(the parent-death signal), so no orphaned server keeps the port.

Linux sends the parent-death signal when the *thread* that started the
child ends, not the process. dbt opens connections from worker threads of
pools it shuts down between phases, so servers are started from one
launcher thread that lives as long as the process: a server started from a
passing worker thread was stopped by the signal as the pool closed, and a
query in the moment before the restart met a refused connection.
"""

import atexit
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from typing import Callable, Dict, List, Tuple

from dbt_common.exceptions import DbtRuntimeError

READY = "quiver serve: listening on "

_servers: Dict[Tuple[str, Tuple[str, ...]], Tuple[subprocess.Popen, str]] = {}
_lock = threading.Lock()


def quiver_binary() -> str:
    path = os.environ.get("QUIVER_BIN") or shutil.which("quiver")
    if not path:
        raise DbtRuntimeError(
            "quiver profile: `warehouse` is set, so the adapter starts `quiver serve`, "
            "but no `quiver` binary is on PATH (or set QUIVER_BIN)"
        )
    return path


def _die_with_parent():
    # PR_SET_PDEATHSIG: the server gets SIGTERM when dbt's process ends.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


_launches: "queue.Queue[Tuple[Callable[[], subprocess.Popen], Future]]" = queue.Queue()
_launcher = None


def _launch_forever():
    while True:
        start, result = _launches.get()
        try:
            result.set_result(start())
        except BaseException as e:  # handed to the caller, who raises it
            result.set_exception(e)


def _spawn(start: Callable[[], subprocess.Popen]) -> subprocess.Popen:
    """Runs `start` on the launcher thread (started on first use; a daemon,
    so it ends with the process and not before)."""
    global _launcher
    if _launcher is None:
        _launcher = threading.Thread(target=_launch_forever, name="quiver-serve-launcher", daemon=True)
        _launcher.start()
    result: Future = Future()
    _launches.put((start, result))
    return result.result()


def uri_for(warehouse: str, server_args: List[str]) -> str:
    key = (warehouse, tuple(server_args))
    with _lock:
        running = _servers.get(key)
        if running is not None and running[0].poll() is None:
            return running[1]
        binary = quiver_binary()
        command = [binary, "--warehouse", warehouse, "serve", "--bind", "127.0.0.1:0"]
        command += list(server_args)
        # The server logs a line per request on stderr: to a file (kept
        # where QUIVER_SERVE_LOG says, else a temporary one).
        if os.environ.get("QUIVER_SERVE_LOG"):
            log = open(os.environ["QUIVER_SERVE_LOG"], "a+")
        else:
            log = tempfile.NamedTemporaryFile("a+", prefix="quiver-serve-", suffix=".log", delete=False)
        process = _spawn(
            lambda: subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        )
        line = process.stdout.readline()
        if not line.startswith(READY):
            process.kill()
            process.wait()
            log.seek(0)
            err = log.read()[-4000:]
            raise DbtRuntimeError(
                f"quiver profile: `{' '.join(command)}` did not start: {(line + err).strip()}"
            )
        uri = line[len(READY) :].split()[0]
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        _servers[key] = (process, uri)
        return uri


def _drain(stream):
    # Whatever else the server prints on stdout, so the pipe never fills.
    for _ in stream:
        pass


@atexit.register
def stop_all():
    for process, _ in list(_servers.values()):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    _servers.clear()
