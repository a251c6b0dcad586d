"""A crisscross stream in Python: a worker that upper-cases each message, and a producer that
streams words to it and prints the answers in order.

    python3 stream_upper.py worker NAME [--port 11111] [--messages N]
    python3 stream_upper.py produce NAME WORD [WORD ...] [--port 11111] [--cluster CLUSTER]

The worker offers the stream service NAME (any name) with STREAMGET and answers with
STREAMRESPOND. The producer opens a stream (STREAMSTART, or REMOTE CLUSTER 1 STREAMSTART to
reach a worker on another member), subscribes to its results (PSUBSCRIBE the ref: it is a
pattern), sends every word (STREAMSEND waits when 64 are in flight: the back-pressure), and
stops the stream once every answer has arrived.
"""
import argparse

import redis

TIMEOUT_MS = 30_000


def worker(r: redis.Redis, name: str, messages: int) -> None:
    print("worker ready", flush=True)
    served = 0
    while messages == 0 or served < messages:
        got = r.execute_command("STREAMGET", name, TIMEOUT_MS)  # blocks like BLPOP; None on timeout
        if got is None:
            continue
        ref, seq, _method, arg = got
        r.execute_command("STREAMRESPOND", ref, seq, arg.upper())
        served += 1


def produce(r: redis.Redis, name: str, words: list, cluster: str) -> None:
    if cluster:
        ref = r.execute_command("REMOTE", cluster, 1, "STREAMSTART", name)
    else:
        ref = r.execute_command("STREAMSTART", name)
    results = r.pubsub()
    results.psubscribe(ref)  # before the first send: results published to no one are lost
    for word in words:
        r.execute_command("STREAMSEND", ref, "upper", word, TIMEOUT_MS)
    prefix = ref[:-1]  # the ref without its '*': results arrive on prefix + seq, the end on prefix + 'end'
    answers = 0
    for message in results.listen():
        if message["type"] != "pmessage":
            continue
        if message["channel"] == prefix + b"end":
            break
        print(message["data"].decode(), flush=True)
        answers += 1
        if answers == len(words):
            r.execute_command("STREAMSTOP", ref)
    results.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["worker", "produce"])
    p.add_argument("name")
    p.add_argument("words", nargs="*")
    p.add_argument("--port", type=int, default=11111)
    p.add_argument("--messages", type=int, default=0)
    p.add_argument("--cluster")
    a = p.parse_args()
    r = redis.Redis(host="127.0.0.1", port=a.port)
    if a.mode == "worker":
        worker(r, a.name, a.messages)
    else:
        produce(r, a.name, a.words, a.cluster)


if __name__ == "__main__":
    main()
