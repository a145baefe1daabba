"""bench/pyalloc.py — a CPython workload that allocates heavily: builds and
drops waves of small objects (dicts, tuples, str, lists, ints) with a few
large buffers, like a parser building records. Deterministic; prints a
checksum. Usage: python3 bench/pyalloc.py [ROUNDS] (default 12)."""
import sys


def wave(n, seed):
    recs = []
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        rec = {"id": i, "name": "item-%d-%d" % (i, x % 1000), "tags": (x % 7, x % 11, "t%d" % (x % 13)),
               "vals": [x % 97, x % 89, x % 83]}
        if x % 50 == 0:
            rec["blob"] = bytearray(4096 + x % 60000)
        recs.append(rec)
    keep = [r for r in recs if r["id"] % 10 == 0]
    s = sum(len(r["name"]) + r["vals"][0] for r in recs)
    return keep, s


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    kept, total = [], 0
    for r in range(rounds):
        k, s = wave(60000, r + 1)
        kept.append(k)
        if len(kept) > 4:
            kept.pop(0)
        total += s
    print("pyalloc", rounds, total % 1000003)


main()
