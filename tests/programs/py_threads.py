"""Threaded allocation workload for the LD_PRELOAD program tests.

Eight threads build dicts, lists, strings, bytearrays and reference cycles,
hand items to each other through a queue and update a shared dict under a
lock. Everything printed depends only on the inputs, never on scheduling.
"""
import gc
import hashlib
import json
import queue
import sys
import threading

NTHREADS = 8
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 100000

shared = {}
shared_lock = threading.Lock()
handoff = queue.Queue(maxsize=256)
results = [None] * NTHREADS


class Node:
    def __init__(self, tid, i):
        self.tid = tid
        self.i = i
        self.peer = None
        self.payload = [i] * (i % 13)


def producer(tid):
    h = hashlib.sha256()
    d = {}
    lst = []
    x = tid * 7919 + 1
    for i in range(ROUNDS):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        key = "k%d_%d" % (tid, x % 4000)
        d[key] = d.get(key, 0) + i
        lst.append(("%x" % x) * (1 + x % 9))
        if len(lst) > 3000:
            del lst[::3]
        if i % 500 == 0:
            # A large buffer (sometimes above the huge threshold), resized.
            big = bytearray(x % 400000 + 1)
            big[-1] = tid
            big.extend(b"z" * (x % 70000))
            h.update(bytes(big[-32:]))
            h.update("".join(lst[:300]).encode())
            handoff.put((tid, i, "|".join(lst[-50:])))
        if i % 97 == 0:
            a, b = Node(tid, i), Node(tid, i + 1)
            a.peer, b.peer = b, a  # cycle for the collector
        if i % 2000 == 0:
            words = " ".join(lst[-200:]).split("a")
            with shared_lock:
                for w in words:
                    shared[w[:6]] = shared.get(w[:6], 0) + 1
    for k in sorted(d):
        h.update(("%s=%d;" % (k, d[k])).encode())
    nested = {str(i): [j * (tid + 1) for j in range(i % 40)] for i in range(4000)}
    h.update(json.dumps(nested, sort_keys=True).encode())
    results[tid] = (len(d), len(lst), h.hexdigest())


def consumer(out):
    h = hashlib.sha256()
    items = []
    while True:
        item = handoff.get()
        if item is None:
            break
        items.append(item)
    items.sort()
    for tid, i, s in items:
        h.update(("%d:%d:%s\n" % (tid, i, s)).encode())
    out.append((len(items), h.hexdigest()))


def main():
    consumed = []
    cons = threading.Thread(target=consumer, args=(consumed,))
    cons.start()
    threads = [threading.Thread(target=producer, args=(t,)) for t in range(NTHREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handoff.put(None)
    cons.join()
    gc.collect()
    total = hashlib.sha256()
    for tid, (nkeys, nlist, digest) in enumerate(results):
        print("thread %d: keys=%d list=%d sha256=%s" % (tid, nkeys, nlist, digest))
        total.update(digest.encode())
    print("handoff: items=%d sha256=%s" % consumed[0])
    total.update(consumed[0][1].encode())
    sh = hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()
    print("shared: keys=%d sha256=%s" % (len(shared), sh))
    total.update(sh.encode())
    print("total sha256=%s" % total.hexdigest())


if __name__ == "__main__":
    main()
