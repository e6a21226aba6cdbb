"""``gaitscope worker``: analyze queued uploads beside the dashboard (:class:`gaitscope.pipeline.worker.Worker`);
run one or more."""

from __future__ import annotations

import argparse
import logging
import signal

from gaitscope.pipeline.worker import DEFAULT_POLL_S, Worker, WorkerStopped


def register_cli(subparsers) -> None:
    w = subparsers.add_parser("worker", help="analyze queued uploads (run one or more beside the dashboard)")
    w.add_argument("--db", default=None, help="database URL (default: embedded SQLite, or $GAITSCOPE_DB_URL)")
    w.add_argument("--once", action="store_true", help="process queued jobs until the queue is empty, then exit")
    w.add_argument("--poll-s", type=float, default=DEFAULT_POLL_S, help="seconds between looks at an empty queue")
    w.add_argument("--stale-s", type=float, default=120.0,
                   help="a running job without heartbeat for this long is taken over (its worker died)")
    w.add_argument("--max-attempts", type=int, default=3, help="claims of one job before it is failed")
    w.add_argument("-v", "--verbose", action="store_true")
    w.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from gaitscope.db import default_url

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    worker = Worker(args.db or default_url(), poll_s=args.poll_s, stale_s=args.stale_s,
                    max_attempts=args.max_attempts)
    previous = signal.signal(signal.SIGTERM, worker.request_stop)
    print(f"gaitscope worker {worker.worker_id} on {worker.db.url}", flush=True)
    try:
        n = worker.run(once=args.once)
    except (KeyboardInterrupt, WorkerStopped):
        n = worker.processed
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"processed {n} job(s)", flush=True)
    return 0
