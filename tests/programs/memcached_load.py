"""Bounded load generator for the memcached LD_PRELOAD test.

usage: memcached_load.py PORT [CLIENT_THREADS] [PAIRS] [DEADLINE_S]
       memcached_load.py --free-port
       memcached_load.py --wait PORT DEADLINE_S

Talks the memcached text protocol to 127.0.0.1 only. Each of the client
threads runs its share of PAIRS set/get pairs (values of 1 byte to 300 KiB),
plus multi-gets, deletes and incr, and checks every reply. It stops at the
deadline whatever remains. It prints the success counts and the server's
item/command counters (all independent of scheduling) and exits 1 on any
mismatch, error or timeout.
"""
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


class Conn:
    def __init__(self, port, timeout):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def get_many(self, keys):
        self.send(b"get " + b" ".join(keys) + b"\r\n")
        found = {}
        while True:
            hdr = self.line()
            if hdr == b"END":
                return found
            parts = hdr.split()
            if len(parts) != 4 or parts[0] != b"VALUE":
                raise ValueError("bad get reply %r" % hdr[:80])
            data = self.exact(int(parts[3]) + 2)
            if data[-2:] != b"\r\n":
                raise ValueError("value for %r not terminated" % parts[1])
            found[parts[1]] = data[:-2]

    def close(self):
        self.sock.close()


def value_for(tid, i):
    # Mostly small values, some medium, a few large (memcached's large slabs).
    r = (i * 2654435761 + tid * 97) % 1000
    if r < 700:
        n = 1 + r % 200
    elif r < 970:
        n = 200 + (r * 37) % 8000
    else:
        n = 50000 + (r * 7919) % 250000
    unit = b"%d:%d;" % (tid, i)
    return (unit * (n // len(unit) + 1))[:n]


def worker(port, tid, pairs, deadline, stats, errors):
    ok_set = ok_get = ok_multi = ok_del = ok_incr = 0
    try:
        c = Conn(port, 10)
        for i in range(pairs):
            if time.monotonic() > deadline:
                raise TimeoutError("deadline reached after %d pairs" % i)
            key = b"t%d:%d" % (tid, i)
            val = value_for(tid, i)
            c.send(b"set %s %d 0 %d\r\n%s\r\n" % (key, i % 65536, len(val), val))
            reply = c.line()
            if reply != b"STORED":
                raise ValueError("set %r: %r" % (key, reply[:80]))
            ok_set += 1
            got = c.get_many([key])
            if got.get(key) != val:
                raise ValueError("get %r returned %d bytes, expected %d"
                                 % (key, len(got.get(key, b"")), len(val)))
            ok_get += 1
            if i % 50 == 49:
                keys = [b"t%d:%d" % (tid, j) for j in range(i - 9, i + 1)]
                got = c.get_many(keys)
                for j, k in zip(range(i - 9, i + 1), keys):
                    if got.get(k) != value_for(tid, j):
                        raise ValueError("multi-get %r wrong" % k)
                ok_multi += 1
            if i % 100 == 99:
                # delete the pair set 50 ago, and check it is gone
                dk = b"t%d:%d" % (tid, i - 50)
                c.send(b"delete " + dk + b"\r\n")
                if c.line() != b"DELETED":
                    raise ValueError("delete %r failed" % dk)
                if c.get_many([dk]):
                    raise ValueError("deleted key %r still there" % dk)
                ok_del += 1
        ck = b"counter:%d" % tid
        c.send(b"set %s 0 0 1\r\n0\r\n" % ck)
        if c.line() != b"STORED":
            raise ValueError("set counter failed")
        for n in range(1, 201):
            c.send(b"incr %s 3\r\n" % ck)
            if c.line() != b"%d" % (3 * n):
                raise ValueError("incr %r wrong at %d" % (ck, n))
            ok_incr += 1
        c.close()
    except Exception as e:  # reported by the main thread
        errors.append("client thread %d: %s: %s" % (tid, type(e).__name__, e))
    stats[tid] = (ok_set, ok_get, ok_multi, ok_del, ok_incr)


def server_stats(port):
    c = Conn(port, 10)
    c.send(b"stats\r\n")
    st = {}
    while True:
        line = c.line()
        if line == b"END":
            break
        _, k, v = line.decode().split(" ", 2)
        st[k] = v
    c.close()
    return st


def main(argv):
    if argv[1] == "--free-port":
        s = socket.socket()
        s.bind((HOST, 0))
        print(s.getsockname()[1])
        s.close()
        return 0
    if argv[1] == "--wait":
        port, deadline = int(argv[2]), time.monotonic() + float(argv[3])
        while time.monotonic() < deadline:
            try:
                c = Conn(port, 2)
                c.send(b"version\r\n")
                if c.line().startswith(b"VERSION "):
                    c.close()
                    return 0
            except OSError:
                time.sleep(0.05)
        return 1
    port = int(argv[1])
    nthreads = int(argv[2]) if len(argv) > 2 else 4
    total = int(argv[3]) if len(argv) > 3 else 20000
    deadline = time.monotonic() + (float(argv[4]) if len(argv) > 4 else 60)
    pairs = total // nthreads
    stats, errors = [None] * nthreads, []
    threads = [threading.Thread(target=worker,
                                args=(port, t, pairs, deadline, stats, errors))
               for t in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sums = [sum(s[k] for s in stats) for k in range(5)]
    print("sets_ok=%d gets_ok=%d multigets_ok=%d deletes_ok=%d incrs_ok=%d"
          % tuple(sums))
    expected = (pairs * nthreads, pairs * nthreads,
                (pairs // 50) * nthreads, (pairs // 100) * nthreads, 200 * nthreads)
    print("expected sets=%d gets=%d multigets=%d deletes=%d incrs=%d" % expected)
    st = server_stats(port)
    for k in ("curr_items", "total_items", "cmd_get", "cmd_set", "get_hits",
              "get_misses", "delete_hits", "incr_hits", "evictions"):
        print("server %s=%s" % (k, st.get(k)))
    for e in errors:
        print(e, file=sys.stderr)
    if errors or tuple(sums) != expected:
        print("FAIL: memcached load: %d client errors, counts %s != expected %s"
              % (len(errors), tuple(sums), expected), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
