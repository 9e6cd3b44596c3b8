"""A real webhook receiver on a free local port, and a way to run the queued tasks in-process."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult


class Receiver:
    """An HTTP server that records every POST and answers ``statuses`` in turn (then 204)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/keyward"

    def events(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def run_ready_tasks(max_tasks: int = 100) -> int:
    """Run every task that is due now, as ``db_worker`` would (its own ``run_task``)."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    ran = 0
    while ran < max_tasks:
        task_result = DBTaskResult.objects.ready().first()
        if task_result is None:
            break
        task_result.claim(worker.worker_id)
        worker.run_task(task_result)
        ran += 1
    return ran
