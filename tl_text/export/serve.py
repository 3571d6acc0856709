"""Serve an exported model over TF Serving's REST API (uvicorn and Starlette).

    tl-text serve --model-base-path saved_models/imdb-kim --port 8501

    POST /v1/models/NAME[/versions/N]:predict
         {"instances": ["text", ...]}   -> {"predictions": [{"probabilities", "label", ...}]}
         {"inputs": {"text": [...]}}    -> {"outputs": {"probabilities": [...], ...}}
    GET  /v1/models/NAME[/versions/N]            version status
    GET  /v1/models/NAME[/versions/N]/metadata   the export's metadata.json
    GET  /metrics                                Prometheus metrics

The highest version under the base path is served; a new version folder is picked up by a
background poll. Concurrent predict requests are merged into one model call (dynamic
batching, `tl_text.export.rest`). Errors are 4xx/5xx responses with {"error": "..."} (a method
a route does not take: 405 with an Allow header). Idle connections and requests that do not
arrive whole in time are dropped; SIGINT or SIGTERM stops the server after the requests in
flight.
"""

from __future__ import annotations

import argparse
import functools
import logging
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tl_text.errors import ConfigError, TlTextError

if TYPE_CHECKING:
    import uvicorn

    from tl_text.export.rest import RestApp
    from tl_text.export.savedmodel import ExportedModel

log = logging.getLogger(__name__)


class LatestVersion:
    """The highest loaded version under a base path, refreshed by a background poll."""

    def __init__(self, base_path: str | Path, poll_seconds: float = 2.0):
        from tl_text.export.savedmodel import load_exported  # TensorFlow: only when serving
        self.base_path = Path(base_path).expanduser()
        self.model: ExportedModel = load_exported(self.base_path)
        self.poll_seconds = poll_seconds
        self._failed: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="version-poll", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def refresh(self) -> None:
        """Load the highest version if it is not the one served. One that fails to load (e.g.
        still being copied in) is tried again at each poll, and logged once."""
        from tl_text.export.savedmodel import load_exported, versions
        found = versions(self.base_path)
        if not found or found[-1] == self.model.version:
            return
        try:
            self.model = load_exported(self.base_path / str(found[-1]))
        except TlTextError as err:
            if self._failed != found[-1]:
                log.warning("version %s not loaded, still serving version %s: %s",
                            found[-1], self.model.version, err)
            self._failed = found[-1]
        else:
            log.info("serving version %s of %s", self.model.version, self.base_path)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 -- keep polling; the current version stays up
                log.exception("looking for new versions in %s failed", self.base_path)


class ModelServer:
    """uvicorn serving one model on a bound socket: `serve_forever` in any thread (in the main
    thread SIGINT and SIGTERM stop it gracefully), then `shutdown` from another thread and
    `server_close`."""

    def __init__(self, sock: socket.socket, served: LatestVersion, rest: RestApp,
                 config: uvicorn.Config):
        self.socket, self.served, self.rest = sock, served, rest
        import uvicorn
        self.server_address = sock.getsockname()[:2]
        self._server = uvicorn.Server(config)
        self._running, self._stopped = threading.Event(), threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}/v1/models/{self.rest.model_name}"

    def serve_forever(self) -> None:
        """Answer requests until `shutdown` or a signal; in-flight requests are finished."""
        self._running.set()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop `serve_forever` (running in another thread) and wait for it to return."""
        self._server.should_exit = True
        if self._running.is_set():
            self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        self.served.stop()


def make_server(base_path: str | Path, host: str = "127.0.0.1", port: int = 8501,
                model_name: str | None = None, max_batch: int = 1024,
                max_body_bytes: int = 10 * 2**20, poll_seconds: float = 2.0,
                batch_size: int = 256, batch_wait: float = 0.002, idle_timeout: float = 15.0,
                request_timeout: float = 30.0, backlog: int = 2048,
                graceful_timeout: float = 30.0, model_threads: int = 2) -> ModelServer:
    """Load the highest version under `base_path` and listen on `host:port` (0: any free port).

    `model_name` (the NAME in the URLs) defaults to the base path's folder name. A request
    holds at most `max_batch` texts and `max_body_bytes`; concurrent requests are merged into
    model calls of up to `batch_size` texts, waiting at most `batch_wait` seconds for company;
    up to `model_threads` calls run at once.
    A connection is closed after `idle_timeout` seconds without a request; a request must
    arrive whole within `request_timeout` seconds (else 408). On shutdown, requests in flight
    get `graceful_timeout` seconds to finish.
    """
    for name, value in (("max_batch", max_batch), ("max_body_bytes", max_body_bytes),
                        ("batch_size", batch_size), ("backlog", backlog),
                        ("model_threads", model_threads)):
        if value < 1:
            raise ConfigError(f"{name} must be positive, got {value}")
    for name, value in (("poll_seconds", poll_seconds), ("idle_timeout", idle_timeout),
                        ("request_timeout", request_timeout),
                        ("graceful_timeout", graceful_timeout)):
        if not value > 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    if not 0 <= batch_wait <= 1:
        raise ConfigError(f"batch_wait must be 0 to 1 second, got {batch_wait}")
    import uvicorn

    from tl_text.export.rest import Batcher, GuardedHttpProtocol, Metrics, RestApp

    served = LatestVersion(base_path, poll_seconds)
    sock = _listen(host, port, backlog)
    rest = RestApp(served, model_name or served.base_path.name, max_batch, max_body_bytes,
                   Batcher(batch_size, batch_wait, Metrics(), model_threads))
    config = uvicorn.Config(
        rest.app, http=functools.partial(GuardedHttpProtocol, request_timeout=request_timeout),
        ws="none", lifespan="on", timeout_keep_alive=idle_timeout, backlog=backlog,
        timeout_graceful_shutdown=graceful_timeout, log_config=None, access_log=False)
    served.start()
    return ModelServer(sock, served, rest, config)


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as err:
        raise TlTextError(f"cannot listen on {host}:{port}: {err}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as err:
        sock.close()
        raise TlTextError(f"cannot listen on {host}:{port}: {err}") from err
    return sock


def port(text: str) -> int:
    """argparse type: a TCP port number, 0 to 65535."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 (any free port) to 65535, got {value}")
    return value


def in_range(kind: type, low: float, high: float | None = None,
             low_open: bool = False) -> Callable[[str], float]:
    """argparse type: a `kind` (int or float) from `low` (excluded if `low_open`) to `high`."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if value != value or value < low or (low_open and value == low) or \
                (high is not None and value > high):
            bounds = f"{'above' if low_open else 'at least'} {low}" + (
                f" and at most {high}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value
    return parse


SECONDS = in_range(float, 0, 86400, low_open=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-base-path", required=True,
                        help="export base path holding version folders 1/, 2/, ...")
    parser.add_argument("--model-name", help="NAME in /v1/models/NAME (default: the base "
                                             "path's folder name)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=port, default=8501, help="0 picks a free port")
    parser.add_argument("--max-batch", type=in_range(int, 1), default=1024,
                        help="most texts per request")
    parser.add_argument("--max-body-bytes", type=in_range(int, 1), default=10 * 2**20,
                        help="largest request body accepted")
    parser.add_argument("--batch-size", type=in_range(int, 1), default=256,
                        help="most texts per model call: concurrent requests are merged up "
                             "to this size")
    parser.add_argument("--batch-wait-ms", type=in_range(float, 0, 1000), default=2.0,
                        help="how long a request may wait for others to share its model call")
    parser.add_argument("--model-threads", type=in_range(int, 1, 64), default=2,
                        help="model calls that may run at once (each on merged requests)")
    parser.add_argument("--idle-timeout", type=SECONDS, default=15.0,
                        help="seconds before a connection without requests is closed")
    parser.add_argument("--request-timeout", type=SECONDS,
                        default=30.0, help="seconds for a request (headers and body) to "
                                           "arrive whole, else 408")
    parser.add_argument("--backlog", type=in_range(int, 1, 65535), default=2048,
                        help="connections the kernel queues before they are accepted")
    parser.add_argument("--graceful-timeout", type=SECONDS,
                        default=30.0, help="seconds requests in flight get to finish on "
                                           "SIGINT/SIGTERM")
    parser.add_argument("--poll-seconds", type=SECONDS, default=2.0,
                        help="how often to look for a new version folder")


def run_from_args(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = make_server(args.model_base_path, args.host, args.port, args.model_name,
                         args.max_batch, args.max_body_bytes, args.poll_seconds,
                         args.batch_size, args.batch_wait_ms / 1000, args.idle_timeout,
                         args.request_timeout, args.backlog, args.graceful_timeout,
                         args.model_threads)
    print(f"serving version {server.served.model.version} at {server.url} (Ctrl-C stops)",
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
