"""The progress display of `call` and `demo`, fed the frames a node sends."""

from __future__ import annotations

from test_call import screen

from nodetool_gateway._progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def update(kind: str, **data) -> dict:
    return {"type": "workflow_update", "request_id": "r", "job_id": "j", "update_type": kind,
            "data": data}


def test_live_line_shows_the_running_node_its_progress_and_the_time():
    """The live line names the running node, its n/total and the seconds elapsed."""
    out: list[str] = []
    clock = Clock()
    progress = Progress(out.append, live=True, clock=clock)
    progress.update({"type": "ack", "request_id": "r", "message": "accepted"})
    clock.now = 1.0
    progress.update(update("job_update", status="running"))
    clock.now = 2.0
    progress.update(update("node_update", node_id="n1", node_name="Resize", status="running"))
    clock.now = 3.25
    progress.update(update("node_progress", node_id="n1", progress=2, total=5))
    assert screen("".join(out)) == ["… node Resize · 2/5 · 3.2s"]
    clock.now = 4.0
    progress.tick()
    assert screen("".join(out)) == ["… node Resize · 2/5 · 4.0s"]


def test_live_line_keeps_tokens_and_the_jobs_end():
    """Streamed tokens are written as they come, on their own line; the job's end stays."""
    out: list[str] = []
    clock = Clock()
    progress = Progress(out.append, live=True, clock=clock)
    progress.update({"type": "ack", "request_id": "r", "message": "accepted"})
    clock.now = 1.0
    for piece in ("Hel", "lo"):
        progress.update(update("chunk", node_id="agent", content=piece))
        assert "".join(out).endswith(piece)  # shown at once, not at the next repaint
    progress.update(update("chunk", node_id="agent", content="", done=True))
    progress.update(update("log_update", node_id="agent", content="used 12 tokens",
                           severity="info"))
    progress.update(update("job_update", status="completed", duration=1.5))
    progress.close()
    assert screen("".join(out)) == [
        "… tokens from node agent: Hello",
        "… log [info] agent used 12 tokens",
        "… job completed in 1.500s",
    ]


def test_without_a_terminal_each_event_is_a_line():
    """Off a terminal: one line per event, and nothing rewritten."""
    out: list[str] = []
    progress = Progress(out.append, live=False, indent="  ")
    progress.update({"type": "ack", "request_id": "r", "message": "accepted"})
    progress.update(update("node_progress", node_id="n1", progress=1, total=2))
    progress.update(update("chunk", node_id="agent", content="Hi"))
    progress.update(update("chunk", node_id="agent", content="", done=True))
    progress.tick()
    progress.close()
    text = "".join(out)
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines() == ["  … accepted", "  … progress n1 1/2",
                                 "  … tokens from node agent: Hi"]


def test_live_line_never_wraps():
    """A long state is cut to the terminal's width: a wrapped line cannot be rewritten."""
    out: list[str] = []
    progress = Progress(out.append, live=True, width=lambda: 30)
    progress.update({"type": "ack", "request_id": "r", "message": "x" * 100})
    (line,) = screen("".join(out))
    assert len(line) == 29 and line.endswith("…")
