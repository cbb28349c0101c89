"""``grid serve --workers N``: N uvicorn workers forked from one parent that has already
imported the service and opened the locate snapshot (预派生 pre-fork, as gunicorn's
``--preload``).

uvicorn's own ``--workers`` *spawns* each worker: a fresh interpreter that imports FastAPI,
SQLAlchemy, numpy, shapely, pandas, the routers' pydantic models … again — about 200 MB of
private memory per worker before it holds any data (measured with ``/proc/PID/smaps_rollup``,
see benchmarks/snapshot_bench.py). Here the parent builds the app once, opens the snapshot —
the mapped arrays, the GEOS polygons rebuilt from it, the grids' nearest-unit tree — freezes
what it made out of the garbage collector (``gc.freeze``: a collection in a worker would
otherwise write to every object's header and so copy every page), binds the socket, and
forks. The workers share all of that copy-on-write; each then opens its own database pools
(in the app's lifespan, on its own event loop) and pays only for what it changes.

Nothing in the parent may connect to the database or start a thread before the fork (a
connection or a lock held by a thread would be shared by every worker): ``create_app`` opens
no connection, and ``LocatorCache.preload`` reads only the snapshot's files. The parent then
only waits: it forwards SIGTERM/SIGINT to the workers, and replaces a worker that dies while
the server is up.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

#: A worker that dies sooner than this after its start is replaced only after this pause (so
#: a worker failing at start-up does not make the parent fork in a tight loop).
RESPAWN_PAUSE_S = 1.0


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The listening socket every worker accepts on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def serve(make_app: Callable[[], object], host: str, port: int, workers: int,
          log_level: str = "info", access_log: bool = True) -> None:
    """Build the app with ``make_app()`` (which may also preload what workers share), fork
    ``workers`` uvicorn workers serving it on ``host:port``, and wait until told to stop."""
    import uvicorn

    sock = bind(host, port)
    config = uvicorn.Config(make_app(), log_level=log_level, access_log=access_log)
    config.load()  # the protocol and loop modules imported here, once, not in each worker
    gc.collect()
    gc.freeze()  # everything made so far is shared: keep collections off its pages
    children: dict[int, float] = {}
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def fork() -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _worker(config, sock)
                code = 0
            finally:
                os._exit(code)  # never return into the parent's loop
        children[pid] = time.monotonic()

    for _ in range(workers):
        fork()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"grid serve: {workers} workers {sorted(children)} on http://{host}:{port} "
          f"(parent {os.getpid()})", file=sys.stderr, flush=True)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if stopping or started is None:
            continue
        print(f"grid serve: worker {pid} exited ({os.waitstatus_to_exitcode(status)}); "
              "starting another", file=sys.stderr, flush=True)
        if time.monotonic() - started < RESPAWN_PAUSE_S:
            time.sleep(RESPAWN_PAUSE_S)
        if not stopping:
            fork()
    sock.close()


def _worker(config, sock: socket.socket) -> None:
    import uvicorn

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # uvicorn installs its own while serving
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    uvicorn.Server(config).run(sockets=[sock])
