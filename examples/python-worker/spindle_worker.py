#!/usr/bin/env python3
"""A Spindle worker in Python 3, standard library only, over the HTTP worker protocol.

It claims jobs with a long-poll, runs the handler registered for the job's name in a thread
pool, keeps each lease alive with heartbeats, and reports completion or failure. Every write
after the claim carries the job's attempt and lease token; when the server answers 409
(`lease_lost`) the job is no longer ours and its result is dropped.

    python3 spindle_worker.py --url http://127.0.0.1:7700 --queue demo --concurrency 4

`--once` stops when a claim comes back empty (used by tests). `stale-demo` claims one job, lets
its lease expire, and shows the server refusing the late completion with 409.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


class LeaseLost(Exception):
    """The server fenced us out: the attempt or token is stale (409 lease_lost)."""


class PermanentError(Exception):
    """Raise from a handler to send the job straight to the DLQ, without retries."""


class ApiError(Exception):
    def __init__(self, status, problem):
        super().__init__(f"HTTP {status}: {problem.get('code')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class SpindleClient:
    """The HTTP worker protocol: claim, heartbeat, progress, complete, fail."""

    def __init__(self, url, worker_id, timeout=30.0):
        self.base = url.rstrip("/") + "/api/v1"
        self.worker_id = worker_id
        self.timeout = timeout

    def _post(self, path, body, timeout=None):
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method="POST", headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            try:
                problem = json.loads(err.read() or b"{}")
            except ValueError:
                problem = {}
            if err.code == 409 and problem.get("code") == "lease_lost":
                raise LeaseLost(problem.get("detail")) from None
            raise ApiError(err.code, problem) from None

    def claim(self, queue, batch=1, wait_ms=20000, lease_ms=30000):
        body = {"workerId": self.worker_id, "batch": batch, "waitMs": wait_ms, "leaseMs": lease_ms}
        return self._post(f"/queues/{queue}/claim", body, timeout=wait_ms / 1000 + 10)["jobs"]

    def heartbeat(self, job, lease_ms=30000):
        return self._post(f"/jobs/{job['id']}/heartbeat", {**self._fence(job), "leaseMs": lease_ms})

    def progress(self, job, value):
        self._post(f"/jobs/{job['id']}/progress", {**self._fence(job), "progress": value})

    def complete(self, job, result=None):
        return self._post(f"/jobs/{job['id']}/complete", {**self._fence(job), "result": result})

    def fail(self, job, error, permanent=False):
        body = {**self._fence(job), "error": {"message": str(error)[:10000], "name": type(error).__name__}, "permanent": permanent}
        return self._post(f"/jobs/{job['id']}/fail", body)

    @staticmethod
    def _fence(job):
        return {"attempt": job["attempt"], "leaseToken": job["leaseToken"]}


# --- handlers: job name -> function(payload, report_progress) -> result ------------------------

def echo(payload, report):
    return {"echo": payload}


def sleep(payload, report):
    steps = max(1, int(payload.get("steps", 4)))
    for step in range(steps):
        time.sleep(payload.get("ms", 100) / 1000 / steps)
        report(int((step + 1) * 100 / steps))
    return {"slept_ms": payload.get("ms", 100)}


def fail(payload, report):
    if payload.get("permanent"):
        raise PermanentError(payload.get("message", "permanent failure"))
    raise RuntimeError(payload.get("message", "transient failure"))


HANDLERS = {"echo": echo, "sleep": sleep, "fail": fail}


class Worker:
    def __init__(self, client, queue, concurrency=4, lease_ms=30000, wait_ms=20000):
        self.client = client
        self.queue = queue
        self.concurrency = concurrency
        self.lease_ms = lease_ms
        self.wait_ms = wait_ms
        self.stats = {"completed": 0, "failed": 0, "lease_lost": 0}
        self._lock = threading.Lock()

    def _count(self, key):
        with self._lock:
            self.stats[key] += 1

    def run_job(self, job):
        stop = threading.Event()

        def keep_alive():
            # Heartbeat at a third of the lease; stop when the server says the lease is gone.
            while not stop.wait(self.lease_ms / 3000):
                try:
                    self.client.heartbeat(job, self.lease_ms)
                except LeaseLost:
                    return

        beat = threading.Thread(target=keep_alive, daemon=True)
        beat.start()
        try:
            handler = HANDLERS.get(job["name"])
            if handler is None:
                raise PermanentError(f"no handler for job name {job['name']!r}")
            result = handler(job.get("payload") or {}, lambda value: self.client.progress(job, value))
            stop.set()
            self.client.complete(job, result)
            self._count("completed")
        except LeaseLost:
            self._count("lease_lost")
        except Exception as error:  # noqa: BLE001 - any handler error is reported to Spindle
            stop.set()
            try:
                self.client.fail(job, error, permanent=isinstance(error, PermanentError))
                self._count("failed")
            except LeaseLost:
                self._count("lease_lost")
        finally:
            stop.set()

    def run(self, once=False):
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            free = threading.Semaphore(self.concurrency)
            while True:
                free.acquire()
                jobs = self.client.claim(self.queue, batch=1, wait_ms=0 if once else self.wait_ms, lease_ms=self.lease_ms)
                if not jobs:
                    free.release()
                    if once:
                        break
                    continue
                for job in jobs:
                    pool.submit(self._guarded, job, free)
        return self.stats

    def _guarded(self, job, free):
        try:
            self.run_job(job)
        finally:
            free.release()


def stale_demo(client, queue):
    """Claims one job with a 1 s lease, sleeps past it, then tries to complete it."""
    jobs = client.claim(queue, batch=1, wait_ms=5000, lease_ms=1000)
    if not jobs:
        return {"claimed": False}
    job = jobs[0]
    time.sleep(3.0)
    try:
        client.complete(job, {"late": True})
        return {"claimed": True, "id": job["id"], "late_completion": "accepted"}
    except LeaseLost:
        return {"claimed": True, "id": job["id"], "late_completion": "refused", "status": 409}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="work", choices=["work", "stale-demo"])
    parser.add_argument("--url", default=os.environ.get("SPINDLE_URL", "http://127.0.0.1:7700"))
    parser.add_argument("--queue", default="demo")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease-ms", type=int, default=30000)
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    parser.add_argument("--once", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args(argv)
    client = SpindleClient(args.url, args.worker_id)
    if args.command == "stale-demo":
        print(json.dumps(stale_demo(client, args.queue)))
        return 0
    stats = Worker(client, args.queue, args.concurrency, args.lease_ms).run(once=args.once)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
