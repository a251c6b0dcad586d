"""The local job queue's semantics through redis-py (run by test/jobs/python-semantics.test.ts).

    python3 queue_semantics.py PORT SERVICE SEED_HEX

Each check prints `ok <name>`; the first failure raises, so the exit code says whether all held.
"""
import sys
import threading
import time

import redis

port, service, seed = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])


def conn() -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port)


def in_background(fn):
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as e:  # the caller inspects what happened
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, result


def ok(name: str) -> None:
    print(f"ok {name}", flush=True)


r = conn()
assert r.execute_command("JOBLOCAL", service, -1) == b"OK"

# A blocked JOBGET holds up no one else; the call reaches it and its answer comes back signed.
worker = conn()
t, got = in_background(lambda: worker.execute_command("JOBGET", service, 0))
time.sleep(0.1)
assert r.ping()
caller_t, answer = in_background(lambda: conn().execute_command("JOBDO", service, 5000, "add_one", "41"))
t.join()
method, arg, ref = got["value"]
assert (method, arg) == (b"add_one", b"41")
assert worker.execute_command("JOBRESPOND", ref, "42", seed) == b"OK"
caller_t.join()
[[response, signature]] = answer["value"]
assert response == b"42" and len(signature) == 80
ok("blocking JOBGET, answer signed")

# Timeouts: JOBGET gives nil, JOBDO a TIMEOUT error for that call.
assert worker.execute_command("JOBGET", service, 100) is None
[timed_out] = r.execute_command("JOBDO", service, 100, "m", "a")
assert isinstance(timed_out, redis.ResponseError) and str(timed_out).startswith("TIMEOUT"), timed_out
ok("timeouts")

# Many workers: every call answered once, in the order asked, spread over the workers.
served = {}
stop = threading.Event()


def work(i: int) -> None:
    w = conn()
    while not stop.is_set():
        job = w.execute_command("JOBGET", service, 200)
        if job is None:
            continue
        served[i] = served.get(i, 0) + 1
        w.execute_command("JOBRESPOND", job[2], job[1] + b"!", seed)


threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for th in threads:
    th.start()
args = [str(i) for i in range(200)]
pairs = [x for a in args for x in ("echo", a)]
answers = r.execute_command("JOBDO", service, 10_000, *pairs)
stop.set()
for th in threads:
    th.join()
assert [a[0] for a in answers] == [a.encode() + b"!" for a in args]
assert sum(served.values()) == 200 and len(served) == 4, served
ok("many workers")

# Answers out of order, from another connection, land on their own calls.
w = conn()
caller_t, answer = in_background(lambda: conn().execute_command("JOBDO", service, 5000, "m", "a", "m", "b", "m", "c"))
jobs = [w.execute_command("JOBGET", service, 5000) for _ in range(3)]
other = conn()
for job in reversed(jobs):
    other.execute_command("JOBRESPOND", job[2], job[1] + b"-done", seed)
caller_t.join()
assert [a[0] for a in answer["value"]] == [b"a-done", b"b-done", b"c-done"]
ok("answers out of order")

# A worker that dies holding a call fails it with JOBLOST; the call goes to no one else.
dying = conn()
caller_t, answer = in_background(lambda: conn().execute_command("JOBDO", service, 30_000, "m", "x"))
assert dying.execute_command("JOBGET", service, 5000) is not None
dying.connection_pool.disconnect()  # the socket closes with the job in hand
caller_t.join()
[lost] = answer["value"]
assert isinstance(lost, redis.ResponseError) and str(lost).startswith("JOBLOST"), lost
assert conn().execute_command("JOBGET", service, 300) is None
ok("worker dies with a job")

# A full queue refuses the calls past its bound.
pairs = [x for i in range(10_001) for x in ("m", str(i))]
results = r.execute_command("JOBDO", service, 200, *pairs)
assert str(results[9_999]).startswith("TIMEOUT") and str(results[10_000]).startswith("QUEUEFULL"), (results[9_999], results[10_000])
assert r.ping()
ok("full queue")
