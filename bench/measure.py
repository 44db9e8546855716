#!/usr/bin/env python3
"""Runs one command and prints its wall time in seconds and its peak RSS in kB (the
child's ru_maxrss), on one line: `SECONDS KB EXIT`. Its output goes to /dev/null.

usage: measure.py COMMAND [ARGS...]
"""
import resource
import subprocess
import sys
import time

start = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
elapsed = time.monotonic() - start
print(f"{elapsed:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {rc}")
