"""The ASGI side of `tl-text serve`: TF Serving's REST routes as a Starlette app, dynamic
batching of predict requests, Prometheus metrics, and uvicorn's HTTP protocol with a request
deadline.

Every answer, errors included, is JSON ({"error": "..."} for errors) except `GET /metrics`,
which is Prometheus' text exposition format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from bisect import bisect_left
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tl_text.export.savedmodel import OUTPUTS

if TYPE_CHECKING:
    from tl_text.export.savedmodel import ExportedModel

log = logging.getLogger(__name__)

ROUTE = re.compile(r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]+))?"
                   r"(?P<action>:predict|/metadata)?")
ACTIONS = {":predict": "predict", "/metadata": "metadata", None: "status"}
# Media types a JSON body may be sent as: curl -d sends application/x-www-form-urlencoded.
JSON_TYPES = {"application/json", "text/plain", "application/x-www-form-urlencoded"}
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class HttpError(Exception):
    """A request the server refuses: the status code, the message sent as {"error": ...} and
    any headers (a 405's Allow)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


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
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise HttpError(400, f"{where}[{i}] is not valid Unicode text: {err.reason} "
                                 f"{json.dumps(err.object[err.start:err.end])} at character "
                                 f"{err.start}") from err
    if not values:
        raise HttpError(400, f"{where} is empty: nothing to classify")
    return values


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class Histogram:
    """A Prometheus histogram: cumulative counts at the bucket bounds, their sum and count."""

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def lines(self, name: str, labels: str = "") -> list[str]:
        total, lines = 0, []
        for bound, count in zip((*self.bounds, "+Inf"), self.counts):
            total += count
            lines.append(f'{name}_bucket{{{labels}{"," if labels else ""}le="{bound}"}} {total}')
        suffix = f"{{{labels}}}" if labels else ""
        return [*lines, f"{name}_sum{suffix} {self.sum}", f"{name}_count{suffix} {total}"]


@dataclass
class Metrics:
    """What `GET /metrics` reports. Updated on the event loop only, so without locks."""

    requests: Counter = field(default_factory=Counter)  # (route, status) -> count
    latency: dict[str, Histogram] = field(default_factory=dict)  # route -> seconds
    batch_sizes: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))
    model_calls: int = 0
    model_errors: int = 0
    queued_texts: int = 0

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests[route, status] += 1
        self.latency.setdefault(route, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def render(self) -> str:
        lines = ["# HELP tl_text_requests_total HTTP requests answered, by route and status.",
                 "# TYPE tl_text_requests_total counter"]
        lines += [f'tl_text_requests_total{{route="{route}",code="{status}"}} {count}'
                  for (route, status), count in sorted(self.requests.items())]
        lines += ["# HELP tl_text_request_duration_seconds Time to answer a request.",
                  "# TYPE tl_text_request_duration_seconds histogram"]
        for route, histogram in sorted(self.latency.items()):
            lines += histogram.lines("tl_text_request_duration_seconds", f'route="{route}"')
        lines += ["# HELP tl_text_batch_size Texts per model call (merged predict requests).",
                  "# TYPE tl_text_batch_size histogram",
                  *self.batch_sizes.lines("tl_text_batch_size"),
                  "# HELP tl_text_model_calls_total Calls of the model's serving signature.",
                  "# TYPE tl_text_model_calls_total counter",
                  f"tl_text_model_calls_total {self.model_calls}",
                  "# HELP tl_text_model_errors_total Model calls that raised an error.",
                  "# TYPE tl_text_model_errors_total counter",
                  f"tl_text_model_errors_total {self.model_errors}",
                  "# HELP tl_text_batch_queue_texts Texts of requests waiting for a model call.",
                  "# TYPE tl_text_batch_queue_texts gauge",
                  f"tl_text_batch_queue_texts {self.queued_texts}"]
        return "\n".join(lines) + "\n"


@dataclass
class _Waiting:
    model: ExportedModel
    texts: list[str]
    arrived: float
    future: asyncio.Future


class Batcher:
    """Merges concurrent predict requests into one model call, as TF Serving's batching does.

    The first waiting request is sent with those behind it (same model version) once they
    hold `max_batch_size` texts or `max_wait` seconds after it arrived; a request larger than
    `max_batch_size` goes alone. Requests that arrive while the model is busy wait together
    for the next free call. The model runs in `model_threads` worker threads (calls at once),
    so the event loop keeps answering. If a merged call fails, its requests are retried one by
    one, so an error fails only the requests that cause it.
    """

    def __init__(self, max_batch_size: int, max_wait: float, metrics: Metrics,
                 model_threads: int = 2):
        self.max_batch_size, self.max_wait, self.metrics = max_batch_size, max_wait, metrics
        self.model_threads = model_threads
        self._waiting: deque[_Waiting] = deque()
        self._arrived: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def running(self, app: Starlette | None = None):
        """Run the batching task and its model thread while the app is up (a lifespan)."""
        self._arrived = asyncio.Event()
        with ThreadPoolExecutor(self.model_threads, thread_name_prefix="model") as executor:
            task = asyncio.create_task(self._run(executor), name="batcher")
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def predict(self, model: ExportedModel, texts: list[str]) -> dict[str, list]:
        """{"probabilities": [...], "label": [...], "label_id": [...]} for `texts`."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(model, texts, loop.time(), loop.create_future())
        self._waiting.append(waiting)
        self.metrics.queued_texts += len(texts)
        self._arrived.set()
        return await waiting.future

    async def _run(self, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        free = asyncio.Semaphore(self.model_threads)
        calls: set[asyncio.Task] = set()
        try:
            while True:
                await free.acquire()
                while not self._waiting:
                    self._arrived.clear()
                    await self._arrived.wait()
                deadline = self._waiting[0].arrived + self.max_wait
                while self._ready() < self.max_batch_size and loop.time() < deadline:
                    self._arrived.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
                call = asyncio.create_task(self._call(self._take(), executor))
                calls.add(call)
                call.add_done_callback(lambda done: (calls.discard(done), free.release()))
        finally:
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)

    def _ready(self) -> int:
        """Texts of the requests that the next call would take (at most one batch's worth)."""
        first, size = self._waiting[0], 0
        for waiting in self._waiting:
            if waiting.model is not first.model or size + len(waiting.texts) > self.max_batch_size:
                return self.max_batch_size if size else len(first.texts)
            size += len(waiting.texts)
        return size

    def _take(self) -> list[_Waiting]:
        batch = [self._waiting.popleft()]
        size = len(batch[0].texts)
        while (self._waiting and self._waiting[0].model is batch[0].model
               and size + len(self._waiting[0].texts) <= self.max_batch_size):
            size += len(self._waiting[0].texts)
            batch.append(self._waiting.popleft())
        self.metrics.queued_texts -= size
        return batch

    async def _call(self, batch: list[_Waiting], executor: ThreadPoolExecutor) -> None:
        texts = [text for waiting in batch for text in waiting.texts]
        self.metrics.model_calls += 1
        self.metrics.batch_sizes.observe(len(texts))
        try:
            columns = await asyncio.get_running_loop().run_in_executor(
                executor, batch[0].model.predict_columns, texts)
        except Exception as err:  # noqa: BLE001 -- answered to the requests that caused it
            self.metrics.model_errors += 1
            if len(batch) > 1:
                for waiting in batch:
                    await self._call([waiting], executor)
                return
            log.warning("the model failed on a request of %d texts: %s", len(texts), err)
            _settle(batch[0].future, error=_model_error(err))
            return
        start = 0
        for waiting in batch:
            end = start + len(waiting.texts)
            _settle(waiting.future, {name: column[start:end] for name, column in columns.items()})
            start = end


def _settle(future: asyncio.Future, result: Any = None, error: Exception | None = None) -> None:
    if future.done():  # cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _model_error(err: Exception) -> HttpError:
    from tensorflow import errors  # loaded with the model
    if isinstance(err, errors.InvalidArgumentError):
        return HttpError(400, f"the model cannot score this input: {err.message}")
    return HttpError(500, f"the model failed: {err}")


class Served(Protocol):
    """Holds the model version to answer with (`tl_text.export.serve.LatestVersion`)."""

    model: ExportedModel


class RestApp:
    """TF Serving's REST routes for the model `served` holds, as a Starlette app (`app`)."""

    def __init__(self, served: Served, model_name: str, max_request_texts: int,
                 max_body_bytes: int, batcher: Batcher):
        self.served, self.model_name = served, model_name
        self.max_request_texts, self.max_body_bytes = max_request_texts, max_body_bytes
        self.batcher, self.metrics = batcher, batcher.metrics
        self.app = Starlette(routes=[Route("/{path:path}", self)], lifespan=batcher.running)

    async def __call__(self, scope, receive, send) -> None:
        """The one ASGI endpoint: every path and method (routing below answers in JSON)."""
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        start, path = time.perf_counter(), request.scope["path"]
        match = ROUTE.fullmatch(path)
        route = "metrics" if path == "/metrics" else ACTIONS[match["action"]] if match else "other"
        status, headers = 200, {}
        try:
            payload = await self._answer(request, route, match)
        except HttpError as err:
            status, headers, payload = err.status, err.headers, {"error": err.message}
        except Exception as err:  # noqa: BLE001 -- reported to the client; keep serving
            log.exception("error while answering %s %s", request.method, path)
            status, payload = 500, {"error": f"internal error: {err}"}
        if isinstance(payload, str):  # the metrics page
            response = Response(payload, status, media_type="text/plain; version=0.0.4")
        else:
            if status >= 400:  # the request body may be unread: never reuse this connection
                headers = {**headers, "Connection": "close"}
            body = json.dumps(payload, ensure_ascii=status >= 400)  # errors may quote bad text
            response = Response(body.encode("utf-8"), status, headers,
                                media_type="application/json")
        self.metrics.observe_request(route, status, time.perf_counter() - start)
        return response

    async def _answer(self, request: Request, route: str, match: re.Match | None) -> dict | str:
        path, method = request.scope["path"], request.method
        if route == "metrics":
            _check_method(path, method, "GET")
            return self.metrics.render()
        if match is None:
            raise HttpError(404, f"no route {_shorten(path, 80)}; use /v1/models/"
                                 f"{self.model_name}[/versions/N][:predict|/metadata] or "
                                 f"/metrics")
        if match["name"] != self.model_name:
            raise HttpError(404, f"model {_shorten(match['name'], 80)!r} not found; this "
                                 f"server serves {self.model_name!r}")
        model = self.served.model
        version = match["version"]
        if version is not None and (len(version) > 18 or int(version) != model.version):
            raise HttpError(404, f"version {_shorten(version)} of {match['name']!r} is not "
                                 f"available; serving version {model.version}")
        _check_method(path, method, "POST" if route == "predict" else "GET")
        if route == "predict":
            return await self._predict(request, model)
        if route == "metadata":
            return model.metadata
        return {"model_version_status": [{
            "version": str(model.version), "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]}

    async def _predict(self, request: Request, model: ExportedModel) -> dict:
        texts, rows = parse_texts(await self._read_json(request))
        if len(texts) > self.max_request_texts:
            raise HttpError(413, f"{len(texts)} texts in one request; the limit is "
                                 f"{self.max_request_texts} (--max-batch)")
        columns = await self.batcher.predict(model, texts)
        if rows:
            return {"predictions": [dict(zip(OUTPUTS, row))
                                    for row in zip(*(columns[name] for name in OUTPUTS))]}
        return {"outputs": columns}

    async def _read_json(self, request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is None:
            raise HttpError(411, "a Content-Length header is required")
        if not re.fullmatch(r"[0-9]+", length):
            raise HttpError(400, f"bad Content-Length {_shorten(length)!r}")
        if len(length) > 18 or int(length) > self.max_body_bytes:
            raise HttpError(413, f"request body of {_shorten(length)} bytes; the limit is "
                                 f"{self.max_body_bytes:,} (--max-body-bytes)")
        _check_content_type(request.headers.get("content-type"))
        try:
            body = await request.body()
        except ClientDisconnect as err:  # dropped (--request-timeout) or gone: for the metrics
            raise HttpError(408, "the request body did not arrive whole") from err
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as err:
            raise HttpError(400, f"the body is not valid UTF-8 JSON: {err}") from err


def _check_method(path: str, method: str, wanted: str) -> None:
    if method != wanted:
        raise HttpError(405, f"{path} takes {wanted}, not {method}", {"Allow": wanted})


def _check_content_type(content_type: str | None) -> None:
    """Refuse bodies declared as something other than (UTF-8) JSON text."""
    if content_type is None:
        return
    media_type, *parameters = [part.strip().lower() for part in content_type.split(";")]
    charset = next((p.partition("=")[2].strip('"') for p in parameters
                    if p.startswith("charset=")), "utf-8")
    if (media_type not in JSON_TYPES and not media_type.endswith("+json")) or \
            charset not in ("utf-8", "utf8"):
        raise HttpError(415, f"Content-Type {_shorten(content_type, 60)!r} is not UTF-8 JSON; "
                             f"send application/json")


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline: a request must arrive whole
    (headers and body) within `request_timeout` seconds of its first byte, else it is answered
    408 and the connection closed (slow or stalled clients, slowloris). A connection that
    sends nothing is closed after the keep-alive timeout. Malformed HTTP gets a JSON 400."""

    def __init__(self, *args, request_timeout: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._receiving = self._headers_done = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._set_deadline(self.timeout_keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_deadline(None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving, self._headers_done = True, False
        self._set_deadline(self.request_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._headers_done = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = False
        self._set_deadline(None)

    def send_400_response(self, msg: str) -> None:
        self._close_with(400, f"malformed HTTP request: {msg}")

    def _set_deadline(self, seconds: float | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None if seconds is None else self.loop.call_later(seconds,
                                                                           self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._receiving and not (self._headers_done and self.cycle.response_started):
            log.debug("dropping %s: no whole request within %s s", self.client,
                     self.request_timeout)
            self._close_with(408, f"the request did not arrive whole within "
                                  f"{self.request_timeout:g} s (--request-timeout)")
        else:
            self.transport.close()

    def _close_with(self, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode("utf-8")
        phrase = {400: "Bad Request", 408: "Request Timeout"}[status]
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode("ascii") + body)
        self.transport.close()
