"""Calls the add_one service and checks who answered: the signature must verify against the
service's public key (whose Name is the service) and bind the nonce of this very call.

    python3 add_one_caller.py SERVICE PUBLIC_KEY [--cluster CLUSTER --num 2] [--port 11111] [--value 41]

PUBLIC_KEY is the PublicKey of the service's key file (base58). With --cluster the call goes to
up to --num providers that announce the service in that cluster (REMOTE … JOBDO).
"""
import argparse
import sys

import msgpack
import redis


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("service")
    p.add_argument("public_key")
    p.add_argument("--cluster")
    p.add_argument("--num", type=int, default=1)
    p.add_argument("--port", type=int, default=11111)
    p.add_argument("--value", type=int, default=41)
    p.add_argument("--timeout", type=int, default=10_000)
    a = p.parse_args()

    r = redis.Redis(host="127.0.0.1", port=a.port)
    call = ["JOBDO", a.service, a.timeout, "add_one", msgpack.packb(a.value)]
    if a.cluster:
        call = ["REMOTE", a.cluster, a.num, *call]
    # One entry per call: [response, signature], or that call's error.
    (answer,) = r.execute_command(*call)
    if isinstance(answer, Exception):
        sys.exit(f"call failed: {answer}")
    response, signature = answer
    nonce = signature[:16]
    ok = r.execute_command("JOBVERIFY", a.service, "add_one", msgpack.packb(a.value), response, signature, a.public_key, "NONCE", nonce)
    print(f"{msgpack.unpackb(response)} {'verified' if ok == 1 else 'NOT VERIFIED'}", flush=True)
    sys.exit(0 if ok == 1 else 1)


if __name__ == "__main__":
    main()
