#!/usr/bin/env python3
"""How long an fsync of 32 KiB takes on /tmp (200 pwrite+fsync rounds): the floor under SQLite's
group commit. Usage: benches/http/fsync_probe.py"""
import os, time, tempfile
fd, p = tempfile.mkstemp(dir="/tmp"); buf = b"x" * 32768; lat = []
for i in range(200):
    t = time.perf_counter(); os.pwrite(fd, buf, (i % 64) * 32768); os.fsync(fd); lat.append((time.perf_counter() - t) * 1000)
os.close(fd); os.unlink(p); lat.sort()
print(f"fsync 32KiB: p50={lat[100]:.2f}ms p99={lat[197]:.2f}ms max={lat[-1]:.1f}ms")
