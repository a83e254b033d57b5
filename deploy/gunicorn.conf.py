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
# gunicorn's default line without the query string (%(U)s is the path alone): a look-up URL
# carries the value looked up, and a person's identifier sent there by mistake (a 422) must
# not be written to a log (PRODUCT.md, subjects). Bodies are never logged.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# prometheus_client's multiprocess mode: every worker writes its samples to files in one
# directory and /metrics adds them up, so counters never go backwards between scrapes that land on
# different workers. The directory must be set before a worker imports prometheus_client (this
# file is read by the master first) and emptied at every start: the systemd unit and the image
# name one (/run/blocklist, /tmp/blocklist-metrics); without one, a private directory is made here
# and removed at exit.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_metrics_dir = not _metrics_dir
if _own_metrics_dir:
    import tempfile

    _metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="blocklist-metrics-")


# The node index (blocklist/nodeindex): with BLOCKLIST_NODE_INDEX set, the master starts the
# node's one follower (`flask node-index follow`) and stops it at exit; the workers read the file
# it keeps. BLOCKLIST_NODE_INDEX_FOLLOWER=external: a separate unit runs it instead
# (deploy/blocklist-node-index.service).
_follower = None
_stopping = False


def _start_follower(server):
    if not os.environ.get("BLOCKLIST_NODE_INDEX") or os.environ.get("BLOCKLIST_NODE_INDEX_FOLLOWER") == "external":
        return
    import subprocess
    import sys
    import threading
    import time

    flask = os.path.join(os.path.dirname(sys.executable), "flask")

    def supervise():
        # Restart the follower if it dies (a crash, the database gone for good): the workers'
        # reads would otherwise go stale silently. A thread of the master that only waits.
        global _follower
        while not _stopping:
            _follower = subprocess.Popen([flask, "--app", "wsgi", "node-index", "follow"])
            server.log.info("node index follower started (pid %d)", _follower.pid)
            code = _follower.wait()
            if not _stopping:
                server.log.warning("node index follower exited (%s); restarting", code)
                time.sleep(2)

    threading.Thread(target=supervise, name="node-index-follower", daemon=True).start()


def on_starting(server):
    # Samples of an earlier run would be added to this one's: drop them (only prometheus_client's
    # own *.db files, whatever else the directory holds).
    os.makedirs(_metrics_dir, exist_ok=True)
    for name in os.listdir(_metrics_dir):
        if name.endswith(".db"):
            os.unlink(os.path.join(_metrics_dir, name))
    _start_follower(server)


def on_exit(server):
    global _stopping
    _stopping = True
    if _follower is not None:
        _follower.terminate()
        try:
            _follower.wait(10)
        except Exception:
            _follower.kill()
    if _own_metrics_dir:
        import shutil

        shutil.rmtree(_metrics_dir, ignore_errors=True)


def post_worker_init(worker):
    # Refuse to serve without the audit signing key (blocklist/audit/signing.py): a clear start-up
    # error, instead of a 503 on GET /v1/audit/public-key later. Exiting with gunicorn's
    # WORKER_BOOT_ERROR (3) makes the master stop too, with this message in the log.
    import sys

    from blocklist.audit import signing

    app = getattr(worker.wsgi, "app", worker.wsgi)  # the Flask app, even if wrapped
    try:
        with app.app_context():
            key_id = signing.require_key(app)
    except signing.SigningKeyError as error:
        worker.log.error("blocklist cannot start: %s", error)
        sys.exit(3)
    worker.log.debug("audit signing key %s loaded", key_id)
    # Likewise without a subject pepper (BLOCKLIST_SUBJECT_PEPPER): person subjects need one.
    from blocklist.config import require_peppers, settings_of

    try:
        count = require_peppers(settings_of(app))
    except RuntimeError as error:
        worker.log.error("blocklist cannot start: %s", error)
        sys.exit(3)
    worker.log.debug("%d subject pepper(s) loaded", count)


def post_fork(server, worker):
    # The app sizes its long-poll bound from the threads this worker really has (a --threads on
    # the command line or in GUNICORN_CMD_ARGS wins over BLOCKLIST_THREADS). It is created after
    # this hook, in the worker, because preload_app is off.
    os.environ["BLOCKLIST_THREADS"] = str(worker.cfg.threads)


def child_exit(server, worker):
    # Drop a dead worker's live gauges (long-polls waiting) from /metrics; its counters stay.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# gunicorn's control socket defaults to one path per user, so two servers on a host would fight
# over it; we do not use it.
control_socket_disable = True
