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

    __slots__ = ("request", "task", "followers")

    def __init__(self, request: Request, task: asyncio.Task):
        self.request = request
        self.task = task
        self.followers: list[Request] = []


class Dispatcher:
    """Runs requests on a router's routes and answers them through ``replies``."""

    def __init__(self, replies: Replies, config: Config, *, router: Callable[[], Router],
                 backend: Callable[[], Backend], log: logging.Logger):
        self.replies = replies
        self.draining = False  # no new work: a drain has begun
        self.in_flight = 0  # handlers running now (past their limits)
        self.answers = AnswerLog(config.limits.remember_answers)  # answered requests by key
        self._router = router  # the current routing table
        self._backend = backend  # the node's stores and engine, built on first use
        self._log = log
        self._running: dict[str, _Call] = {}  # calls by dedup key
        self._by_request_id: dict[str, _Call] = {}  # the same calls, and repeats, by id
        self._anonymous: set[asyncio.Task] = set()  # calls with no id (messages)
        self._route_limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._global_limit: asyncio.Semaphore | None = None
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
        return [*(c.task for c in self._running.values()), *self._anonymous]

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
                Code.UNAVAILABLE, "the node is shutting down and takes no new work"))
            return
        route = self._router().lookup(request)
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
                           "(limits.max_pending); try again later"))
            return
        await replies.ack(request, "accepted")
        task = asyncio.create_task(self._execute(request, route))
        if key is not None:
            call = self._running[key] = _Call(request, task)
            if request.request_id is not None:
                self._by_request_id[request.request_id] = call
        else:
            self._anonymous.add(task)
            task.add_done_callback(self._anonymous.discard)

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

    async def _execute(self, request: Request, route: Route) -> None:
        # Only handlers that take a context (or stream) get one: most calls skip the cost.
        ctx = self._context(request, route) if route.wants_context else None
        answer: Answer
        try:
            answer = await self._call(request, route, route.bind(request), ctx)
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
        call = self._running.pop(key, None) if key is not None else None
        followers = call.followers if call is not None else ()
        if call is not None:
            by_id = self._by_request_id
            by_id.pop(call.request.request_id, None)
            for r in followers:
                by_id.pop(r.request_id, None)
        await self._finish(request, answer)
        replies = self.replies
        for follower in followers:
            await replies.deliver(None, replies.encode(follower, answer))

    async def _call(self, request: Request, route: Route, kwargs: dict[str, Any],
                    ctx: HandlerContext | None) -> Answer:
        route_limit = None
        if route.concurrency:
            key = (route.name, route.concurrency)
            route_limit = self._route_limits.get(key)
            if route_limit is None:
                route_limit = self._route_limits[key] = asyncio.Semaphore(route.concurrency)
            await route_limit.acquire()
        global_limit = self._global_limit
        try:
            await global_limit.acquire()
        except BaseException:
            if route_limit is not None:
                route_limit.release()
            raise
        self.in_flight += 1
        # A timer that cancels the task: cheaper than asyncio.timeout on every call.
        timer = None
        expired = False
        if route.timeout is not None:
            task = asyncio.current_task()

            def expire() -> None:
                nonlocal expired
                expired = True
                task.cancel()

            timer = asyncio.get_running_loop().call_later(route.timeout, expire)
        try:
            result = await route.call(request, kwargs, ctx)
        except asyncio.CancelledError:
            if not expired:
                raise
            task.uncancel()
            return Answer.failure(Code.TIMEOUT, f"{request.name} timed out after {route.timeout:g}s")
        finally:
            if timer is not None:
                timer.cancel()
            self.in_flight -= 1
            global_limit.release()
            if route_limit is not None:
                route_limit.release()
        return Answer(ok=True, result=result)

    # Out

    async def _finish(self, request: Request, answer: Answer) -> None:
        replies = self.replies
        if request.request_id is None:
            if request.kind == "message" and not answer.ok:
                self._log.warning("%s (%s): %s", request.name, answer.code, answer.error)
            elif not answer.ok:
                await replies.error(answer.code, answer.error, None)
            return
        frame = replies.encode(request, answer)
        key = request.dedup_key
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
