"""A crisscross job worker in Python: answers add_one(n) = n + 1, arguments and answers in msgpack.

    python3 add_one_worker.py SERVICE [--cluster CLUSTER] [--port 11111] [--jobs N]

SERVICE is the Name of a key pair in the daemon's keys dir (`crisscross keypair > keys/my_key.yaml`):
the daemon signs every answer with it. With --cluster the service is announced to that cluster
(JOBANNOUNCE), so members can call it with REMOTE; without, it is accepted locally (JOBLOCAL).
--jobs stops after N answers (for tests); by default the worker runs until interrupted.
"""
import argparse

import msgpack
import redis

TTL_MS = 3_600_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("service")
    p.add_argument("--cluster")
    p.add_argument("--port", type=int, default=11111)
    p.add_argument("--jobs", type=int, default=0)
    a = p.parse_args()

    r = redis.Redis(host="127.0.0.1", port=a.port)
    if a.cluster:
        r.execute_command("JOBANNOUNCE", a.cluster, a.service, TTL_MS)
    else:
        r.execute_command("JOBLOCAL", a.service, TTL_MS)
    print("worker ready", flush=True)
    answered = 0
    while a.jobs == 0 or answered < a.jobs:
        job = r.execute_command("JOBGET", a.service, 30_000)  # blocks like BLPOP; None on timeout
        if job is None:
            continue
        method, arg, ref = job
        if method != b"add_one":
            response = msgpack.packb({"error": f"unknown method {method!r}"})
        else:
            response = msgpack.packb(msgpack.unpackb(arg) + 1)
        r.execute_command("JOBRESPOND", ref, response, a.service)
        answered += 1


if __name__ == "__main__":
    main()
