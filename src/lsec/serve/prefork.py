"""``lsec serve --workers N``: N uvicorn servers forked from one process that loaded the artifact once.

The parent (``lsec serve``) binds the socket, memory-maps the artifact's arrays (``np.load(mmap_mode="r")``),
builds the id indexes (:class:`~lsec.serve.ids.IdIndex`: one sorted order per id array, no Python object per
id), compiles the one-thread scoring kernels (numba's compiler and the machine code then live in pages every
worker shares), freezes its objects out of the garbage collector's reach (``gc.freeze``: collections in the
children do not write to the shared pages) and forks the workers. Every worker then shares, copy-on-write,
the parent's interpreter, libraries, compiled kernels and indexes, and, through the page cache, the artifact
files: an extra worker costs only the pages it writes (its event loop, request buffers). The kernel spreads
connections over the workers, which accept on the one listening socket. A worker that dies is forked again
from the parent; on SIGINT / SIGTERM the parent stops every worker and exits.

Threads are started only in the workers (batcher threads, the artifact watcher, and numba's thread pool when
a worker has more than one core: its parallel kernel is compiled there, since a pool started before ``fork``
has no threads in the child). The one-thread kernels the parent runs start no thread, so forking is safe.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_forked(make_app: Callable[[], Any], sock: socket.socket, workers: int, *, log_level: str = "warning") -> None:
    """Fork ``workers`` processes that each run ``make_app()`` under uvicorn on ``sock``; wait for them."""
    import uvicorn

    gc.collect()
    gc.freeze()
    children: dict[int, int] = {}
    stopping = False
    restarts = 0

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 0
            try:
                config = uvicorn.Config(make_app(), log_level=log_level, lifespan="on")
                uvicorn.Server(config).run(sockets=[sock])
            except BaseException:  # noqa: BLE001 - a worker never returns into the parent's code
                code = 1
            finally:
                os._exit(code)
        children[pid] = slot

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for slot in range(workers):
        spawn(slot)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if children.pop(pid, -1) >= 0 and not stopping:
            restarts += 1
            if restarts > 3 * workers:  # workers that cannot start: stop rather than fork forever
                print(f"lsec serve: workers keep exiting (last status {status}); stopping", file=sys.stderr)
                stop(signal.SIGTERM, None)
                continue
            print(f"lsec serve: worker {pid} exited (status {status}); starting another", file=sys.stderr)
            spawn(0)
    sock.close()
