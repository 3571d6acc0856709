"""Serve an exported model over TF Serving's REST API (standard library only).

    tl-text serve --model-base-path saved_models/imdb-kim --port 8501

    POST /v1/models/NAME[/versions/N]:predict
         {"instances": ["text", ...]}   -> {"predictions": [{"probabilities", "label", ...}]}
         {"inputs": {"text": [...]}}    -> {"outputs": {"probabilities": [...], ...}}
    GET  /v1/models/NAME[/versions/N]            version status
    GET  /v1/models/NAME[/versions/N]/metadata   the export's metadata.json

The highest version under the base path is served; a new version folder is picked up by a
background poll. Errors are 4xx/5xx responses with {"error": "..."} (a method a route does
not take: 405 with an Allow header).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tl_text.errors import ConfigError, TlTextError

if TYPE_CHECKING:
    from tl_text.export.savedmodel import ExportedModel

log = logging.getLogger(__name__)

ROUTE = re.compile(r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                   r"(?P<action>:predict|/metadata)?")


class HttpError(Exception):
    """A request the server refuses: the status code, the message sent as {"error": ...} and
    any headers (a 405's Allow)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


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


class ModelServer(ThreadingHTTPServer):
    """HTTP server for one model; `serve_forever` in any thread, then `shutdown`, `server_close`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], served: LatestVersion, model_name: str,
                 max_batch: int, max_body_bytes: int):
        self.served, self.model_name = served, model_name
        self.max_batch, self.max_body_bytes = max_batch, max_body_bytes
        super().__init__(address, PredictHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1/models/{self.model_name}"

    def server_close(self) -> None:
        super().server_close()
        self.served.stop()


def make_server(base_path: str | Path, host: str = "127.0.0.1", port: int = 8501,
                model_name: str | None = None, max_batch: int = 1024,
                max_body_bytes: int = 10 * 2**20, poll_seconds: float = 2.0) -> ModelServer:
    """Load the highest version under `base_path` and bind `host:port` (0: any free port).

    `model_name` (the NAME in the URLs) defaults to the base path's folder name.
    """
    if max_batch < 1 or max_body_bytes < 1:
        raise ConfigError(f"max_batch and max_body_bytes must be positive, got {max_batch} "
                          f"and {max_body_bytes}")
    served = LatestVersion(base_path, poll_seconds)
    try:
        server = ModelServer((host, port), served, model_name or served.base_path.name,
                             max_batch, max_body_bytes)
    except OSError as err:
        raise TlTextError(f"cannot listen on {host}:{port}: {err}") from err
    served.start()
    return server


def parse_texts(payload: Any) -> tuple[list[str], bool]:
    """Texts of a predict request and whether it used the row ("instances") format."""
    if not isinstance(payload, dict) or len({"instances", "inputs"} & payload.keys()) != 1:
        raise HttpError(400, 'the body must be a JSON object with either "instances" or '
                             '"inputs"')
    unknown = payload.keys() - {"instances", "inputs", "signature_name"}
    if unknown:
        raise HttpError(400, f"unknown request keys {sorted(unknown)}")
    if payload.get("signature_name", "serving_default") != "serving_default":
        raise HttpError(400, f"unknown signature {payload['signature_name']!r}; "
                             f"only 'serving_default' is served")
    if "instances" in payload:
        return _instances(payload["instances"]), True
    inputs = payload["inputs"]
    if isinstance(inputs, dict):
        if inputs.keys() != {"text"}:
            raise HttpError(400, f'"inputs" must name the one input "text", got {sorted(inputs)}')
        inputs = inputs["text"]
    return _strings(inputs, '"inputs"'), False


def _instances(instances: Any) -> list[str]:
    if isinstance(instances, list):
        instances = [i["text"] if isinstance(i, dict) and i.keys() == {"text"} else i
                     for i in instances]
    return _strings(instances, '"instances"')


def _strings(values: Any, where: str) -> list[str]:
    if not isinstance(values, list):
        raise HttpError(400, f'{where} must be a list of strings')
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise HttpError(400, f'{where}[{i}] must be a string (or {{"text": string}}), '
                                 f'got {json.dumps(value)[:80]}')
    if not values:
        raise HttpError(400, f"{where} is empty: nothing to classify")
    return values


class PredictHandler(BaseHTTPRequestHandler):
    """The REST routes; every response, errors included, is JSON."""

    server: ModelServer
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a silent client may hold a connection

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    def do_PUT(self) -> None:
        self._respond("PUT")

    def do_DELETE(self) -> None:
        self._respond("DELETE")

    def do_PATCH(self) -> None:
        self._respond("PATCH")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """Malformed requests and unsupported methods get JSON too."""
        self._send(code, {"error": message or HTTPStatus(code).phrase})

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _respond(self, method: str) -> None:
        try:
            self._send(200, self._route(method))
        except HttpError as err:
            self._send(err.status, {"error": err.message}, err.headers)
        except Exception as err:  # noqa: BLE001 -- reported to the client; keep serving
            log.exception("error while answering %s %s", method, self.path)
            self._send(500, {"error": f"internal error: {err}"})

    def _route(self, method: str) -> dict:
        path = urlsplit(self.path).path
        match = ROUTE.fullmatch(path)
        if match is None:
            raise HttpError(404, f"no route {path}; use /v1/models/{self.server.model_name}"
                                 f"[/versions/N][:predict|/metadata]")
        if match["name"] != self.server.model_name:
            raise HttpError(404, f"model {match['name']!r} not found; this server serves "
                                 f"{self.server.model_name!r}")
        model = self.server.served.model
        if match["version"] is not None and int(match["version"]) != model.version:
            raise HttpError(404, f"version {match['version']} of {match['name']!r} is not "
                                 f"available; serving version {model.version}")
        action = match["action"]
        wanted = "POST" if action == ":predict" else "GET"
        if method != wanted:
            raise HttpError(405, f"{path} takes {wanted}, not {method}", {"Allow": wanted})
        if action == ":predict":
            return self._predict(model)
        if action == "/metadata":
            return model.metadata
        return {"model_version_status": [{"version": str(model.version), "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    def _predict(self, model: ExportedModel) -> dict:
        texts, rows = parse_texts(self._read_json())
        if len(texts) > self.server.max_batch:
            raise HttpError(413, f"{len(texts)} texts in one request; the limit is "
                                 f"{self.server.max_batch} (--max-batch)")
        if rows:
            return {"predictions": model.predict(texts)}
        return {"outputs": model.predict_columns(texts)}

    def _read_json(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None:
            raise HttpError(411, "a Content-Length header is required")
        if not length.isdigit():
            raise HttpError(400, f"bad Content-Length {length!r}")
        if int(length) > self.server.max_body_bytes:
            raise HttpError(413, f"request body of {int(length):,} bytes; the limit is "
                                 f"{self.server.max_body_bytes:,} (--max-body-bytes)")
        body = self.rfile.read(int(length))
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as err:
            raise HttpError(400, f"the body is not valid UTF-8 JSON: {err}") from err

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status >= 400:  # the request body may be unread: never reuse this connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


def port(text: str) -> int:
    """argparse type: a TCP port number, 0 to 65535."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 (any free port) to 65535, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-base-path", required=True,
                        help="export base path holding version folders 1/, 2/, ...")
    parser.add_argument("--model-name", help="NAME in /v1/models/NAME (default: the base "
                                             "path's folder name)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=port, default=8501, help="0 picks a free port")
    parser.add_argument("--max-batch", type=int, default=1024, help="most texts per request")
    parser.add_argument("--max-body-bytes", type=int, default=10 * 2**20,
                        help="largest request body accepted")
    parser.add_argument("--poll-seconds", type=float, default=2.0,
                        help="how often to look for a new version folder")


def run_from_args(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = make_server(args.model_base_path, args.host, args.port, args.model_name,
                         args.max_batch, args.max_body_bytes, args.poll_seconds)
    print(f"serving version {server.served.model.version} at {server.url} (Ctrl-C stops)",
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
