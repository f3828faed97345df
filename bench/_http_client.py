"""The online latency bench's HTTP side: `selflearn serve` started as a separate process on loopback, serving a
bench bundle, and a keep-alive client of its `POST /rewrite`.

    with ServedBundle(folder, key, log_path, cpus={0}) as server:  # waits for /health (timeout: a clear error)
        client = Client(server.host, server.port)
        decision = client.rewrite("bench-user", "play jazz")   # RewriteDecision.as_dict(), as JSON gives it
        quantiles = server_quantiles(client.get("/metrics"))     # the service's own rewrite() time

The service reads its exports from `$SELFLEARN_HOME/exports`: the server gets a home of its own under the log's
folder whose `exports` is a link to the bundle's exports root, and the bench's pseudonym key, so it serves
exactly the bundle the bench measured through the Python API (`/health` is checked to name that folder). It is
`selflearn serve` itself (the console script beside the interpreter), with its default poll and uvicorn; one
OpenMP / BLAS thread (environment), and pinned to `cpus` (set on the calling thread around the start, which the
child and all its threads inherit). It is terminated on leaving the `with`, however the bench left it.

The client is the standard library's `http.client` on one persistent connection (HTTP/1.1 keep-alive, Nagle off):
no pool, no retries hidden in a timing; `connections` counts the connections it opened.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def serve_command() -> list[str]:
    """`selflearn serve` of this interpreter's environment (`python -m selflearn_assets.cli` without the script)."""
    script = Path(sys.executable).with_name("selflearn")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "selflearn_assets.cli"]


class ServedBundle:
    """`selflearn serve` of the exports root holding `folder`, on `host` and a free port; see the module docstring.
    Entering starts it and waits up to `timeout` seconds for a `/health` that names `folder`; leaving terminates it."""

    def __init__(
        self,
        folder: Path,
        pseudonym_key: str,
        log_path: Path,
        cpus: set[int] | None = None,
        host: str = HOST,
        timeout: float = 300.0,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.key = pseudonym_key
        self.log_path = Path(log_path)
        self.cpus = cpus
        self.host = host
        self.port = 0
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.health: dict = {}
        self.startup_seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> ServedBundle:
        try:
            self.start()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        home = self.log_path.parent / f"serve-home-{self.folder.parents[1].name}"
        home.mkdir(parents=True, exist_ok=True)
        link = home / "exports"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(self.folder.parents[1], target_is_directory=True)
        env = dict(os.environ)
        env.update(
            SELFLEARN_HOME=str(home),
            SELFLEARN_PSEUDONYM_KEY=self.key,
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
        )
        self.port = free_port(self.host)
        cmd = [*serve_command(), "serve", "--host", self.host, "--port", str(self.port)]
        before = os.sched_getaffinity(0)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w") as log:
            try:
                if self.cpus:
                    os.sched_setaffinity(0, self.cpus)  # inherited by the child at its start
                self._started = time.perf_counter()
                self.process = subprocess.Popen(
                    cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            finally:
                os.sched_setaffinity(0, before)

    def wait_healthy(self) -> None:
        """Poll `GET /health` until it answers 200 naming `self.folder`; RuntimeError when the server exits first
        or serves another folder, TimeoutError after `self.timeout` seconds. Both quote the server's log."""
        assert self.process is not None
        deadline = time.monotonic() + self.timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"selflearn serve exited with status {code} before /health answered; the end of "
                    f"{self.log_path}:\n{_tail(self.log_path)}"
                )
            conn = http.client.HTTPConnection(self.host, self.port, timeout=2.0)
            try:
                conn.request("GET", "/health")
                response = conn.getresponse()
                body = response.read()
                if response.status == 200:
                    health = json.loads(body)
                    served = (health.get("online") or {}).get("folder")
                    if served is None or Path(served).resolve() != self.folder:
                        raise RuntimeError(
                            f"selflearn serve serves {served}, not the bench's bundle {self.folder}"
                        )
                    self.health = health
                    self.startup_seconds = time.perf_counter() - self._started
                    return
                last = f"/health answered {response.status}"
            except (ConnectionError, TimeoutError, http.client.HTTPException, OSError) as err:
                last = f"{type(err).__name__}: {err}"
            finally:
                conn.close()
            time.sleep(0.2)
        raise TimeoutError(
            f"selflearn serve on {self.host}:{self.port} did not answer /health within {self.timeout:g} s "
            f"({last}); the end of {self.log_path}:\n{_tail(self.log_path)}"
        )

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far, from /proc (clock-tick resolution)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 15 s) and reap it; a no-op when not running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Client:
    """One keep-alive HTTP/1.1 connection to the service."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.connections = 0
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
        return self.conn

    def _exchange(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn = self._connection()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (ConnectionError, http.client.HTTPException):
            self.close()  # the next call opens a new connection, and `connections` says so
            raise
        if response.status != 200:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:200]!r}")
        if response.will_close:
            self.close()
        return data

    def rewrite(self, user_id: str, text: str) -> dict:
        """The service's decision for one request, parsed."""
        body = json.dumps({"user_id": user_id, "text": text}).encode()
        return json.loads(self._exchange("POST", "/rewrite", body))

    def get(self, path: str) -> str:
        return self._exchange("GET", path).decode()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def server_quantiles(metrics: str) -> dict[float, float]:
    """The service's own `Rewriter.rewrite()` time quantiles (seconds) from its `/metrics` summary."""
    out = {}
    prefix = 'selflearn_rewrite_recent_seconds{quantile="'
    for line in metrics.splitlines():
        if line.startswith(prefix):
            q, value = line[len(prefix) :].split('"}', 1)
            out[float(q)] = float(value)
    return out
