"""The dispatcher: requests in flight, from a decoded frame to the answer.

For each request it finds the route, checks deduplication (a ``request_id`` or
idempotency key is never run twice; a repeat gets the first answer), the node's
limits (pending, concurrency, per-route caps, timeouts), runs the handler as a
task that a cancel can stop, and turns the outcome into an answer sent through
a :class:`Replies` port: the connection, or a list in a test. It knows nothing
of sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Protocol

from .config import Config
from .delivery import AnswerLog
from .errors import Code, HandlerError
from .handlers.context import HandlerContext
from .protocols import Answer, Request
from .router import Route, Router

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["Dispatcher", "Replies"]


class Replies(Protocol):
    """Where the dispatcher's frames go (the connection implements it)."""

    async def ack(self, request: Request, message: str) -> None: ...
    async def update(self, request: Request, job_id: str | None, kind: str, data: Any) -> None: ...
    async def error(self, code: Code | str, message: str, request_id: str | None) -> None: ...
    async def deliver(self, key: str | None, frame: str | None) -> None: ...
    def encode(self, request: Request, answer: Answer) -> str: ...


class _Call:
    """A request being run, and any repeats of it that wait for the same answer."""

    __slots__ = ("done", "expired", "followers", "request", "task")

    def __init__(self, request: Request):
        self.request = request
        self.task: asyncio.Task | None = None
        self.followers: list[Request] = []
        self.done = False  # answered (its deadline no longer matters)
        self.expired = False  # its route's timeout cancelled it


class _Deadlines:
    """The timeouts of running calls, without a loop timer per call.

    Calls under one timeout expire in the order they started, so each timeout
    keeps a FIFO of ``(deadline, call)`` and one timer for its head. A call that
    ends is only flagged; flagged heads are dropped as calls end, so a FIFO
    holds little more than the calls running.
    """

    __slots__ = ("_queues", "_timers")

    def __init__(self) -> None:
        self._queues: dict[float, deque[tuple[float, _Call]]] = {}
        self._timers: dict[float, asyncio.TimerHandle] = {}

    def add(self, call: _Call, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        queue = self._queues.get(timeout)
        if queue is None:
            queue = self._queues[timeout] = deque()
        queue.append((deadline, call))
        if timeout not in self._timers:
            self._timers[timeout] = loop.call_at(deadline, self._expire, timeout)

    def ended(self, timeout: float) -> None:
        queue = self._queues[timeout]
        while queue and queue[0][1].done:
            queue.popleft()

    def _expire(self, timeout: float) -> None:
        queue = self._queues[timeout]
        loop = asyncio.get_running_loop()
        now = loop.time()
        while queue and (queue[0][1].done or queue[0][0] <= now):
            _, call = queue.popleft()
            if not call.done:
                call.expired = True
                call.task.cancel()
        if queue:
            self._timers[timeout] = loop.call_at(queue[0][0], self._expire, timeout)
        else:
            del self._timers[timeout]


class Dispatcher:
    """Runs requests on a router's routes and answers them through ``replies``."""

    def __init__(self, replies: Replies, config: Config, *, router: Callable[[], Router],
                 backend: Callable[[], Backend], log: logging.Logger):
        self.replies = replies
        self.draining = False  # no new work: a drain has begun
        self.in_flight = 0  # handlers running now (past their limits)
        self.answers = AnswerLog(config.limits.remember_answers)  # answered requests by key
        self.router: Router | None = None  # the routing table in force (the node sets it)
        self._router = router  # builds the routing table when none is set yet
        self._backend = backend  # the node's stores and engine, built on first use
        self._log = log
        self._running: dict[str, _Call] = {}  # calls by dedup key
        self._by_request_id: dict[str, _Call] = {}  # the same calls, and repeats, by id
        self._anonymous: set[_Call] = set()  # calls with no id (messages)
        self._route_limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._deadlines = _Deadlines()
        self._global_limit: asyncio.Semaphore | None = None
        # Told of every answer, with when its call started (the node's observer sets it).
        self.observe: Callable[[Request, Answer, float | None], None] | None = None
        self.configure(config)

    def configure(self, cfg: Config) -> None:
        """Take a config's limits; calls already running keep theirs."""
        limits = cfg.limits
        self.config = cfg
        self.answers.max_entries = limits.remember_answers
        self._max_pending = limits.max_pending
        self.max_concurrency = limits.max_concurrency
        if self._global_limit is None or limits.max_concurrency != self._global_size:
            self._global_limit = asyncio.Semaphore(limits.max_concurrency)
            self._global_size = limits.max_concurrency

    @property
    def pending(self) -> int:
        """Requests accepted and not yet answered."""
        return len(self._running) + len(self._anonymous)

    def tasks(self) -> list[asyncio.Task]:
        return [*(c.task for c in self._running.values()), *(c.task for c in self._anonymous)]

    # In

    def cancel(self, request_id: str) -> None:
        """Cancel the call running under ``request_id`` (a repeat's id cancels it too)."""
        call = self._by_request_id.get(request_id)
        if call is not None:
            self._log.debug("cancel for %s", request_id)
            call.task.cancel()

    async def on_request(self, request: Request) -> None:
        replies = self.replies
        key = request.dedup_key
        if key is not None:
            call = self._running.get(key)
            if call is not None:
                if request.request_id == call.request.request_id:
                    await replies.ack(request, "already running")
                else:  # the same work under another id: it gets the same answer
                    call.followers.append(request)
                    if request.request_id is not None:
                        self._by_request_id[request.request_id] = call
                return
            previous = self.answers.get(key)
            if previous is not None:
                first_id, answer, frame, sent = previous
                if request.request_id != first_id:
                    await replies.deliver(None, replies.encode(request, answer))
                elif sent:
                    await replies.deliver(key, frame)
                else:
                    await replies.ack(request, "already answered")
                return
        if self.draining:
            await self._finish(request, Answer.failure(
                Code.UNAVAILABLE, "the node is shutting down and takes no new work"),
                remember=False)
            return
        route = (self.router or self._router()).lookup(request)
        if type(route) is not Route:
            code, message = route
            if code == Code.UNKNOWN_TYPE:
                await replies.error(code, message, request.request_id)
            else:
                await self._finish(request, Answer.failure(code, message))
            return
        if len(self._running) >= self._max_pending:
            await self._finish(request, Answer.failure(
                Code.BUSY, f"the node has {len(self._running)} requests pending "
                           "(limits.max_pending); try again later"), remember=False)
            return
        await replies.ack(request, "accepted")
        call = _Call(request)
        # Registered before its task exists, so no step of the call can miss it.
        if key is not None:
            self._running[key] = call
            if request.request_id is not None:
                self._by_request_id[request.request_id] = call
        else:
            self._anonymous.add(call)
        call.task = asyncio.create_task(self._execute(call, route))

    # Running

    def _context(self, request: Request, route: Route) -> HandlerContext:
        cfg = self.config
        replies = self.replies
        ctx: HandlerContext

        async def send_update(kind: str, data: Any) -> None:
            await replies.update(request, ctx.job_id, kind, data)

        ctx = HandlerContext(
            request_id=request.request_id, name=request.name, kind=request.kind,
            node_id=cfg.node.id, user_id=cfg.node.user_id, config=cfg, log=route.log,
            send_update=send_update, backend=self._backend)
        return ctx

    async def _execute(self, call: _Call, route: Route) -> None:
        request = call.request
        started = time.perf_counter()
        # Only handlers that take a context (or stream) get one: most calls skip the cost.
        ctx = self._context(request, route) if route.wants_context else None
        route_limit = self._route_limit(route) if route.concurrency else None
        global_limit = self._global_limit
        answer: Answer
        try:
            kwargs = route.bind(request)
            if route_limit is not None:
                await route_limit.acquire()
            try:
                await global_limit.acquire()
                self.in_flight += 1
                try:
                    answer = await self._run(call, route, kwargs, ctx)
                finally:
                    self.in_flight -= 1
                    global_limit.release()
            finally:
                if route_limit is not None:
                    route_limit.release()
        except HandlerError as exc:
            answer = Answer.failure(exc.code, exc.message, exc.details)
        except asyncio.CancelledError:
            answer = Answer.failure(Code.CANCELLED, f"{request.name} was cancelled")
        except Exception as exc:  # a handler's bug is an answer, not a crash
            self._log.warning("handler %s for %s failed: %s: %s", route.target, request.name,
                              type(exc).__name__, exc)
            self._log.debug("handler traceback", exc_info=True)
            answer = Answer.failure(Code.HANDLER_ERROR, f"{type(exc).__name__}: {exc}")
        if answer.job_id is None and ctx is not None:
            answer.job_id = ctx.job_id
        key = request.dedup_key
        followers = call.followers
        if key is not None:
            del self._running[key]
            by_id = self._by_request_id
            by_id.pop(request.request_id, None)
            for r in followers:
                by_id.pop(r.request_id, None)
        else:
            self._anonymous.discard(call)
        await self._finish(request, answer, started=started)
        replies = self.replies
        for follower in followers:
            await replies.deliver(None, replies.encode(follower, answer))

    def _route_limit(self, route: Route) -> asyncio.Semaphore:
        key = (route.name, route.concurrency)
        limit = self._route_limits.get(key)
        if limit is None:
            limit = self._route_limits[key] = asyncio.Semaphore(route.concurrency)
        return limit

    async def _run(self, call: _Call, route: Route, kwargs: dict[str, Any],
                   ctx: HandlerContext | None) -> Answer:
        """Call the handler under its route's timeout."""
        timeout = route.timeout
        if timeout is not None:
            self._deadlines.add(call, timeout)
        try:
            direct = route.direct
            if direct is not None:
                result = await direct(**kwargs)
            else:
                result = await route.call(call.request, kwargs, ctx)
        except asyncio.CancelledError:
            if not call.expired:
                raise
            call.task.uncancel()
            return Answer.failure(Code.TIMEOUT,
                                  f"{call.request.name} timed out after {timeout:g}s")
        finally:
            call.done = True
            if timeout is not None:
                self._deadlines.ended(timeout)
        return Answer(ok=True, result=result)

    # Out

    async def _finish(self, request: Request, answer: Answer, remember: bool = True,
                      started: float | None = None) -> None:
        """Answer a request; ``remember=False`` for refusals a retry may get past (BUSY)."""
        if self.observe is not None:
            self.observe(request, answer, started)
        replies = self.replies
        if request.request_id is None:
            if request.kind == "message" and not answer.ok:
                self._log.warning("%s (%s): %s", request.name, answer.code, answer.error)
            elif not answer.ok:
                await replies.error(answer.code, answer.error, None)
            return
        frame = replies.encode(request, answer)
        key = request.dedup_key if remember else None
        if key is not None:
            # The answer itself is kept only where a repeat may come under another id
            # (an idempotency key); a repeat of the same id just gets the frame again.
            self.answers.record(key, request.request_id,
                                answer if key != request.request_id else None, frame)
        await replies.deliver(key, frame)

    # Shutdown

    async def drain(self, grace: float) -> None:
        """Take no new work; wait up to ``grace`` for running calls, then cancel them."""
        self.draining = True
        running = self.tasks()
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            self._log.warning("cancelled %d calls still running after %gs", len(pending), grace)
            await asyncio.wait(pending)

    def cancel_all(self) -> None:
        for task in self.tasks():
            task.cancel()
