"""Run the template's functions locally, each in worker processes of its own.

A worker is a warm "container": a Python process whose import path is the function's
``CodeUri`` only (plus the installed packages) and whose environment is what the template
gives the function, so two functions' ``app`` modules or settings never meet. It imports the
handler once and then answers one event per line on stdin with one result per line on its
original stdout; the function's own prints go to stderr, like CloudWatch. A call that
outlives the function's timeout kills the worker, as Lambda ends the sandbox. An answer is
written as the Lambda runtime writes it (JSON, non-ASCII as UTF-8), so one the runtime cannot
send (a lone surrogate, a value JSON cannot hold) is a function error here too.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from devkit.template import FAKE_ACCOUNT, FAKE_REGION, Function

MAX_WORKERS_PER_FUNCTION = 4
# What a worker takes from make local's own environment, beside the template's: where the
# machine's trust store and proxy are (OpenSSL reads SSL_CERT_FILE/DIR itself, so -I does not
# hide them). Without them the authorizer could not fetch a real issuer's keys behind TLS
# inspection or from a Keycloak on mkcert, while the gateway in this process could.
HOST_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    *(name for base in ("https_proxy", "http_proxy", "no_proxy", "all_proxy") for name in (base.upper(), base)),
)
# Lambda's INIT phase (interpreter start and the handler's import) has a limit of its own,
# 10 s, apart from the function's Timeout, which starts with the invocation.
INIT_TIMEOUT = 10.0


class FunctionError(Exception):
    """The function raised, timed out, crashed, or answered something the runtime cannot send."""


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]

    def call(self, event: Any, timeout: float) -> Any:
        if self.process.stdin is None or self.process.stdout is None:
            raise FunctionError("worker has no pipes")
        self.process.stdin.write(json.dumps(event).encode() + b"\n")
        self.process.stdin.flush()
        line = _read_line(self.process.stdout.fileno(), timeout)
        if line is None:
            self.process.kill()
            self.process.wait()  # reaped, so the pool sees it dead and starts another
            raise FunctionError(f"Task timed out after {timeout:.2f} seconds")
        if not line:
            raise FunctionError(f"the function's process exited (code {self.process.wait()})")
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than this stack goes
            raise FunctionError("the function's process answered something that is not JSON") from exc
        if "error" in answer:
            error = answer["error"]
            raise FunctionError(f"{error.get('errorType')}: {error.get('errorMessage')}")
        return answer["result"]

    def alive(self) -> bool:
        return self.process.poll() is None


def _read_line(fd: int, timeout: float) -> bytes | None:
    """One line from a pipe, or None if it takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        chunks.append(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return b"".join(chunks)


class FunctionPool:
    """Warm workers for one function; more are started while all are busy, up to a cap."""

    def __init__(
        self,
        function: Function,
        environ: Mapping[str, str] | None = None,
        on_log: Callable[[bytes], None] | None = None,
    ) -> None:
        """``environ``: make local's environment, whose ``HOST_VARIABLES`` the workers get too.

        ``on_log``: also given each line a worker writes (its log, as CloudWatch would receive
        it), which still reaches this process's stderr.
        """
        self.function = function
        self._on_log = on_log
        self._host = {name: value for name, value in (environ or {}).items() if name in HOST_VARIABLES}
        self._idle: list[_Worker] = []
        self._count = 0
        self._lock = threading.Condition()
        self.invocations = 0

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._borrow() as worker:
            return worker.call(event, self.function.timeout)

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[_Worker]:
        with self._lock:
            while not self._idle and self._count >= MAX_WORKERS_PER_FUNCTION:
                self._lock.wait()
            self.invocations += 1
            worker = self._idle.pop() if self._idle else None
            if worker is None:
                self._count += 1
        try:
            worker = worker or self._start()
        except BaseException:
            with self._lock:
                self._count -= 1
                self._lock.notify()
            raise
        try:
            yield worker
        finally:
            with self._lock:
                if worker.alive():
                    self._idle.append(worker)
                else:
                    self._count -= 1
                self._lock.notify()

    def _start(self) -> _Worker:
        fn = self.function
        env = {
            "PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AWS_REGION": FAKE_REGION,
            "AWS_DEFAULT_REGION": FAKE_REGION,
            "AWS_LAMBDA_FUNCTION_NAME": fn.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_ACCOUNT_ID": FAKE_ACCOUNT,
            **self._host,
            **fn.environment,
        }
        process = subprocess.Popen(
            # -B: Lambda's code directory is read-only, so no bytecode is written there either.
            [sys.executable, "-I", "-B", "-c", _WORKER, fn.handler],
            cwd=fn.code_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if self._on_log is not None else None,
        )
        if process.stderr is not None and self._on_log is not None:
            threading.Thread(target=_forward, args=(process.stderr, self._on_log), daemon=True).start()
        ready = _read_line(process.stdout.fileno(), INIT_TIMEOUT) if process.stdout is not None else None
        if not ready:
            process.kill()
            process.wait()
            raise FunctionError(f"{fn.logical_id}: init did not finish within {INIT_TIMEOUT:.0f} seconds")
        return _Worker(process)

    def close(self) -> None:
        with self._lock:
            for worker in self._idle:
                worker.process.kill()
                worker.process.wait()
            self._idle.clear()


def _forward(pipe: IO[bytes], on_log: Callable[[bytes], None]) -> None:
    """A worker's log lines to this process's stderr, each also to ``on_log``, until the worker ends."""
    with pipe:
        for line in pipe:
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
            on_log(line)


class Functions:
    """All of the template's functions, by logical ID."""

    def __init__(
        self,
        functions: dict[str, Function],
        environ: Mapping[str, str] | None = None,
        on_log: Callable[[bytes], None] | None = None,
    ) -> None:
        self.pools = {name: FunctionPool(fn, environ, on_log) for name, fn in functions.items()}

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        return self.pools[name].invoke(event)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


# Runs inside the worker (isolated mode: -I ignores the user's site and PYTHON* variables,
# so the code directory is put on sys.path explicitly, first, as Lambda's /var/task is).
_WORKER = r"""
import datetime, importlib, json, logging, os, signal, sys, traceback, types

# Ctrl-C in make local's terminal reaches the whole process group; the server stops its workers
# itself, so a worker has no traceback to print for it.
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.path.insert(0, os.getcwd())
protocol = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.stdout = sys.stderr


def send(line):
    protocol.write(line)
    protocol.flush()


def marshal(result):
    # As the python3.12+ runtimes send an answer (awslambdaric 4.2.2): simplejson with
    # ensure_ascii=False and allow_nan=True, then UTF-8, which a lone surrogate cannot pass, so
    # that answer fails there and must fail here. simplejson differs from json in two ways
    # the handlers here never meet (they return dicts of str, bool, int and None): a Decimal
    # is a JSON number there and not serialisable here; a namedtuple an object there, an array here.
    return json.dumps(result, ensure_ascii=False, allow_nan=True).encode("utf-8")


def error_line(error_type, message):
    return json.dumps({"error": {"errorType": error_type, "errorMessage": message}}).encode() + b"\n"


class LambdaJsonFormatter(logging.Formatter):
    # Lambda's JSON log format: standard fields plus whatever the record carries in extra=.
    standard = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record):
        entry = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "level": record.levelname,
            # As Lambda's runtime does: a dict message is written as a nested JSON object.
            "message": record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage(),
            "logger": record.name,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self.standard})
        if record.exc_info:
            entry["stackTrace"] = traceback.format_exception(*record.exc_info)
        return json.dumps(entry, default=str)


handler_out = logging.StreamHandler(sys.stderr)
handler_out.setFormatter(LambdaJsonFormatter())
logging.basicConfig(level=logging.INFO, handlers=[handler_out])
module_name, function_name = sys.argv[1].rsplit(".", 1)
try:
    handler = getattr(importlib.import_module(module_name), function_name)
except Exception as exc:
    init_error = exc
    handler = None
context = types.SimpleNamespace(
    function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
    memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + os.environ["AWS_LAMBDA_FUNCTION_NAME"],
    aws_request_id="",
)
# Lambda times INIT apart from the invocation (up to 10 s): say when the handler is imported.
send(b'{"ready": true}\n')
for line in sys.stdin:
    try:
        if handler is None:
            raise init_error
        result = handler(json.loads(line), context)
    except Exception as exc:
        traceback.print_exc()
        send(error_line(type(exc).__name__, str(exc)))
        continue
    try:
        payload = marshal(result)
    except Exception as exc:  # also RecursionError: an answer nested too deep to write
        # One line, as the runtime logs it (a traceback here would be the encoder's, not the
        # handler's). On AWS the UTF-8 step fails after the marshaller, and the runtime exits.
        message = f"Unable to marshal response: {exc}"
        error = {"errorMessage": message, "errorType": "Runtime.MarshalError", "requestId": "", "stackTrace": []}
        print(json.dumps(error), file=sys.stderr, flush=True)
        send(error_line("Runtime.MarshalError", message))
        continue
    # JSON escapes every control character, so the payload holds no newline of its own.
    send(b'{"result": ' + payload + b"}\n")
"""
