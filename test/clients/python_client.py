"""Drive a crisscross daemon with redis-py, a client written by nobody on this project.

Usage: python3 python_client.py PORT [PASSWORD]. Exits 0 when every check passes; an assertion
failure prints its traceback and exits non-zero.
"""
import sys

import redis


def main() -> None:
    port = int(sys.argv[1])
    password = sys.argv[2] if len(sys.argv) > 2 else None

    try:
        redis.Redis(host="127.0.0.1", port=port).ping()
        raise AssertionError("a command without AUTH should have been refused")
    except redis.AuthenticationError:
        pass

    r = redis.Redis(host="127.0.0.1", port=port, password=password, client_name="py-check")
    assert r.ping() is True
    assert r.client_getname() == "py-check"

    info = r.info()
    assert "redis_version" in info, info

    root = r.execute_command("PUTMULTIBIN", "", -1, "hello", "world", b"bin\x00key", b"\xff\x00\x01")
    assert isinstance(root, bytes) and len(root) > 30, root
    assert r.execute_command("FETCHBIN", root, "hello") == b"world"
    assert r.execute_command("FETCHBIN", root, b"bin\x00key") == b"\xff\x00\x01"
    assert r.execute_command("FETCHBIN", root, "missing") is None
    assert r.execute_command("GETMULTIBIN", root, "hello", "missing") == [b"world", None]
    assert r.execute_command("HASKEYBIN", root, "hello") == 1
    assert r.execute_command("HASKEYBIN", root, "missing") == 0

    # The same pairs give the same root, whatever the order and batching of the writes.
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.execute_command("PUTMULTIBIN", "", -1, f"k{i}", f"v{i}")
    roots = pipe.execute()
    assert len(roots) == 1000 and len(set(roots)) == 1000
    single = r.execute_command("PUTMULTIBIN", "", -1, "k7", "v7")
    assert single == roots[7]

    both = r.execute_command("PUTMULTIBIN", "", -1, "b", "2", "a", "1")
    a_then_b = r.execute_command("PUTMULTIBIN", r.execute_command("PUTMULTIBIN", "", -1, "a", "1"), -1, "b", "2")
    assert both == a_then_b

    try:
        r.execute_command("FETCHBIN", "not-an-id-0OIl", "hello")
        raise AssertionError("a malformed id should be an error")
    except redis.ResponseError:
        pass
    assert r.ping() is True

    print("python client: all checks passed")


if __name__ == "__main__":
    main()
