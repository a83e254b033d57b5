"""gunicorn settings; every value can be overridden from the environment (see README)."""

import multiprocessing
import os

bind = os.environ.get("BLOCKLIST_BIND", "127.0.0.1:8000")
# Threads let a worker hold long-polling feed requests without blocking other requests.
worker_class = os.environ.get("BLOCKLIST_WORKER_CLASS", "gthread")


def _usable_cpus() -> int:
    """CPUs this process may run on (affinity, e.g. a systemd CPUAffinity= or `taskset`), not the
    host's count, which over-sizes the pool on shared machines."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return multiprocessing.cpu_count()


# gthread: each worker is one process (one GIL) with `threads` threads; a thread waiting on a
# long-poll or the database costs little, so 2 x CPUs + 1 processes keep every CPU busy.
workers = int(os.environ.get("BLOCKLIST_WORKERS", _usable_cpus() * 2 + 1))
# Long-polls may hold at most BLOCKLIST_LONGPOLL_PER_WORKER (default threads // 2) of a worker's
# threads, never more than threads - BLOCKLIST_LONGPOLL_FREE_THREADS (default 2): the app clamps
# it at start-up (blocklist/feeds/longpoll.py), so look-ups always find a free thread.
threads = int(os.environ.get("BLOCKLIST_THREADS", "8"))
timeout = int(os.environ.get("BLOCKLIST_WORKER_TIMEOUT", "60"))
# Longer than the longest long-poll (30 s), so a restart lets waiting feed requests finish.
graceful_timeout = 40
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = int(os.environ.get("BLOCKLIST_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("BLOCKLIST_ACCESS_LOG", "-")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker):
    # The app sizes its long-poll bound from the threads this worker really has (a --threads on
    # the command line or in GUNICORN_CMD_ARGS wins over BLOCKLIST_THREADS). It is created after
    # this hook, in the worker, because preload_app is off.
    os.environ["BLOCKLIST_THREADS"] = str(worker.cfg.threads)


def child_exit(server, worker):
    # With PROMETHEUS_MULTIPROC_DIR set, drop a dead worker's live gauges from /metrics.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn's control socket defaults to one path per user, so two servers on a host would fight
# over it; we do not use it.
control_socket_disable = True
