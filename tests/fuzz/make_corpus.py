#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ops into tests/fuzz/corpus/ (deterministic:
rerunning it rewrites the same files). Each seed is a small program in the
format described at the top of fuzz_ops.c."""
import os
import random
import struct

OPS = dict(malloc=0, calloc=1, realloc=2, memalign=3, posix_memalign=4, aligned_alloc=5,
           free=6, free_sized=7, usable=8, reallocarray=9, errors=10, trim=11,
           parallel=12, check_all=13, malloc2=14, free2=15)

# Index of a size in fuzz_ops.c's edge_sizes[] (size selector 7, low bits nonzero).
EDGE = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 127, 128, 129, 255, 256, 257,
        1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, 14335, 14336, 14337, 16383,
        16384, 16385, 20480, 32767, 32768, 32769, 65536, 65537, (1 << 20) - 1, 1 << 20,
        (2 << 20) - 4096, (2 << 20) - 1, 2 << 20, (2 << 20) + 1, (2 << 20) + 4096,
        (4 << 20) - 8192, (4 << 20) - 4096, (4 << 20) - 1, 4 << 20, (4 << 20) + 1, 8 << 20,
        16 << 20]


class Prog:
    def __init__(self):
        self.b = bytearray()

    def op(self, name, sel=0, worker=False):
        self.b.append(OPS[name] | (sel & 7) << 4 | (0x80 if worker else 0))
        return self

    def u8(self, v):
        self.b.append(v & 0xff)
        return self

    def u16(self, v):
        self.b += struct.pack('<H', v & 0xffff)
        return self

    # Sizes: returns (selector, 16-bit value) reproducing a size.
    @staticmethod
    def small(n):            # 0..1024
        return 0, n

    @staticmethod
    def edge(size):
        return 7, EDGE.index(size) << 3 | 1

    @staticmethod
    def large(n):            # multiples of 33 up to ~2.07 MiB
        return 6, n // 33

    @staticmethod
    def huge(mib):           # 2 MiB + k * 2 KiB (+ k / 4)
        k = int((mib - 2) * 512)
        return 7, (k << 3) & 0xffff

    def alloc(self, name, slot, size, worker=False, extra=None):
        sel, v = size
        self.op(name, sel, worker).u8(slot).u16(v)
        if extra is not None:
            self.u8(extra)
        return self

    def malloc(self, slot, size, worker=False):
        return self.alloc('malloc', slot, size, worker)

    def calloc(self, slot, size, nmemb_byte=0, worker=False):
        return self.alloc('calloc', slot, size, worker, nmemb_byte)

    def realloc(self, slot, size, worker=False):
        return self.alloc('realloc', slot, size, worker)

    def reallocarray(self, slot, size, nmemb_byte, worker=False):
        return self.alloc('reallocarray', slot, size, worker, nmemb_byte)

    def aligned(self, name, slot, size, align_byte, worker=False):
        return self.alloc(name, slot, size, worker, align_byte)

    def free(self, slot, worker=False, sized=False):
        return self.op('free_sized' if sized else 'free', 0, worker).u8(slot)

    def usable(self, slot, worker=False):
        return self.op('usable', 0, worker).u8(slot)

    def errors(self, slot, which, worker=False):
        return self.op('errors', 0, worker).u8(slot).u8(which)

    def parallel(self, count, mode, sel=0):
        return self.op('parallel', sel).u8(count).u8(mode)

    def simple(self, name, worker=False):
        return self.op(name, 0, worker)


def seeds():
    out = {}

    p = Prog()
    for i, n in enumerate([0, 1, 8, 15, 16, 24, 100, 128, 500, 1024]):
        p.malloc(i, Prog.small(n))
    for i in range(10):
        p.usable(i)
    for i in range(10):
        p.free(i, sized=bool(i & 1))
    out['01_small_basic'] = p

    p = Prog()
    p.calloc(0, Prog.small(100), 3).calloc(1, Prog.edge(16384), 0).calloc(2, Prog.huge(3), 1)
    p.realloc(0, Prog.small(1000)).realloc(0, Prog.edge(14337)).realloc(0, Prog.large(300000))
    p.realloc(0, Prog.huge(5)).realloc(0, Prog.huge(9)).realloc(0, Prog.large(100000))
    p.realloc(0, Prog.small(3)).realloc(0, Prog.small(0))
    p.realloc(3, Prog.small(40)).free(1, sized=True).free(2, sized=True)
    out['02_calloc_realloc'] = p

    p = Prog()
    names = ['memalign', 'posix_memalign', 'aligned_alloc']
    for k in range(17):
        p.aligned(names[k % 3], k, Prog.small((k * 37) % 1000), k)
    for k in range(6):
        p.aligned(names[k % 3], 20 + k, Prog.small(k * 100 + 1), 0xf0 + k)
    p.aligned('memalign', 30, Prog.large(70000), 13)
    p.aligned('posix_memalign', 31, Prog.edge(16385), 14)
    for k in range(17):
        p.usable(k)
        p.free(k, sized=True)
    for k in list(range(20, 26)) + [30, 31]:
        p.free(k, sized=bool(k & 1))
    out['03_aligned'] = p

    p = Prog()
    for i in range(16):
        p.malloc(i, Prog.small(i * 60 + 8), worker=False)
    for i in range(16):
        p.free(i, worker=True, sized=bool(i & 1))
    for i in range(16):
        p.malloc(32 + i, Prog.small(i * 50 + 1), worker=True)
    for i in range(16):
        p.realloc(32 + i, Prog.small(i * 50 + 300), worker=False)
    p.simple('check_all', worker=True)
    out['04_cross_thread'] = p

    p = Prog()
    # (count, mode, rounds - 1): mode bit 0 one size class (8 * (1 + (mode >> 2) % 64)),
    # bits 1 and 5 malloc_trim at the end of each round.
    for c, m, r in [(1, 0, 0), (8, 2, 0), (31, 3, 1), (16, 4, 0), (63, 0x41, 3), (63, 0xa3, 2), (36, 0, 1)]:
        p.malloc(c, Prog.small(c * 8))
        p.parallel(c, m, r)
        p.free(c, worker=True)
    out['05_parallel'] = p

    p = Prog()
    for i in range(12):
        p.malloc(i, Prog.large(16384 + i * 40000))
    for i in range(0, 12, 2):
        p.free(i)
    for i in range(1, 12, 2):
        p.realloc(i, Prog.large(16384 + i * 41000 + 4096))
    for i in range(0, 12, 2):
        p.calloc(i, Prog.large(20000 + i * 8000), 0, worker=True)
    p.simple('check_all')
    out['06_large_runs'] = p

    p = Prog()
    p.malloc(0, Prog.huge(4)).malloc(1, Prog.huge(12)).calloc(2, Prog.huge(6), 2)
    p.realloc(0, Prog.huge(10)).realloc(1, Prog.huge(3)).realloc(2, Prog.huge(2.5))
    p.realloc(0, Prog.edge(2 << 20)).realloc(0, Prog.edge((2 << 20) + 1))
    p.free(0, worker=True).free(1, worker=True, sized=True).free(2, sized=True)
    out['07_huge'] = p

    p = Prog()
    for i, s in enumerate(EDGE):
        p.malloc(i, Prog.edge(s), worker=bool(i & 1))
    for i in range(len(EDGE)):
        p.free(i, worker=not (i & 1), sized=True)
    out['08_edge_sizes'] = p

    p = Prog()
    p.malloc(0, Prog.small(200)).malloc(1, Prog.huge(3))
    for w in range(16):
        p.errors(w % 2, w | (w << 3) & 0xff, worker=bool(w & 2))
    p.calloc(2, Prog.small(10), 0xff)
    p.aligned('posix_memalign', 3, Prog.small(10), 1)
    out['09_errors'] = p

    p = Prog()
    for i in range(40):
        p.malloc(i, Prog.large(20000 + i * 3000))
    for i in range(40):
        p.free(i)
    p.simple('trim').simple('trim', worker=True)
    for i in range(40):
        p.calloc(i, Prog.large(20000 + i * 3100), i)
    out['10_trim_purge'] = p

    p = Prog()
    for i in range(256):
        p.malloc(i, Prog.small((i * 13) % 1025), worker=bool(i & 4))
    for i in reversed(range(256)):
        p.free(i, worker=bool(i & 8), sized=bool(i & 1))
    out['11_all_slots'] = p

    p = Prog()
    p.reallocarray(0, Prog.small(64), 3).reallocarray(0, Prog.large(50000), 7)
    p.reallocarray(1, Prog.small(0), 0).reallocarray(0, Prog.small(10), 1)
    p.free(0).free(1)
    out['12_reallocarray'] = p

    rnd = random.Random(20240531)
    p = Prog()
    p.b += bytes(rnd.randrange(256) for _ in range(2048))
    out['13_random'] = p
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = os.path.join(here, 'corpus')
    os.makedirs(d, exist_ok=True)
    for name, prog in seeds().items():
        assert len(prog.b) < 4096, name
        with open(os.path.join(d, name), 'wb') as f:
            f.write(bytes(prog.b))
        print(f'{name}: {len(prog.b)} bytes')


if __name__ == '__main__':
    main()
