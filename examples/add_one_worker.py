"""A crisscross job worker in Python: answers add_one(n) = n + 1, arguments and answers in msgpack.

    python3 add_one_worker.py SERVICE [--cluster CLUSTER] [--port 11111] [--jobs N] [--push]

SERVICE is the Name of a key pair in the daemon's keys dir (`crisscross keypair > keys/my_key.yaml`):
the daemon signs every answer with it. With --cluster the service is announced to that cluster
(JOBANNOUNCE), so members can call it with REMOTE; without, it is accepted locally (JOBLOCAL).
--jobs stops after N answers (for tests); by default the worker runs until interrupted.
--push takes the calls as pub/sub messages (SUBSCRIBE SERVICE, each call pushed to one worker,
payload msgpack [method, arg, ref]) instead of asking for each with JOBGET.
"""
import argparse

import msgpack
import redis

TTL_MS = 3_600_000


def answer(method: bytes, arg: bytes) -> bytes:
    if method != b"add_one":
        return msgpack.packb({"error": f"unknown method {method!r}"})
    return msgpack.packb(msgpack.unpackb(arg) + 1)


def calls(r: redis.Redis, service: str, push: bool):
    """Yields (method, arg, ref) for each call, pulled with JOBGET or pushed to a subscription."""
    if push:
        sub = r.pubsub()
        sub.subscribe(service)
        for message in sub.listen():
            if message["type"] == "message":
                method, arg, ref = msgpack.unpackb(message["data"])
                yield method, arg, ref
        return
    while True:
        job = r.execute_command("JOBGET", service, 30_000)  # blocks like BLPOP; None on timeout
        if job is not None:
            yield tuple(job)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("service")
    p.add_argument("--cluster")
    p.add_argument("--port", type=int, default=11111)
    p.add_argument("--jobs", type=int, default=0)
    p.add_argument("--push", action="store_true")
    a = p.parse_args()

    r = redis.Redis(host="127.0.0.1", port=a.port)
    if a.cluster:
        r.execute_command("JOBANNOUNCE", a.cluster, a.service, TTL_MS)
    else:
        r.execute_command("JOBLOCAL", a.service, TTL_MS)
    print("worker ready", flush=True)
    answered = 0
    for method, arg, ref in calls(r, a.service, a.push):
        # The subscribed connection may only (un)subscribe: the answer goes on the other one.
        r.execute_command("JOBRESPOND", ref, answer(method, arg), a.service)
        answered += 1
        if answered == a.jobs:
            break


if __name__ == "__main__":
    main()
