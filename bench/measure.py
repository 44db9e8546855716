#!/usr/bin/env python3
"""Runs one command and prints its wall time in seconds, its peak RSS in kB (the child's
ru_maxrss), its exit status and its CPU time in seconds (user and system, the command and what
it waited for), on one line: `SECONDS KB EXIT CPU`. Its output goes to /dev/null. CPU time is
what to compare on a loaded machine: wall time there is mostly waiting for a core.

usage: measure.py COMMAND [ARGS...]
"""
import resource
import subprocess
import sys
import time

start = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
elapsed = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{elapsed:.3f} {usage.ru_maxrss} {rc} {usage.ru_utime + usage.ru_stime:.3f}")
