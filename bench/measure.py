#!/usr/bin/env python3
"""Runs one command and prints its wall time in seconds, its peak RSS in kB, its exit status
and its CPU time in seconds (user and system), on one line: `SECONDS KB EXIT CPU`. Its output
goes to /dev/null. CPU time is what to compare on a loaded machine: wall time there is mostly
waiting for a core.

The command is started by /usr/bin/time, whose figures these are: a child of this Python
process would report Python's own RSS (about 14 MB) as its peak whatever it used, since the
kernel counts the memory a process had before its `exec` in its peak.

usage: measure.py COMMAND [ARGS...]
"""
import os
import subprocess
import sys
import tempfile
import time

with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
    start = time.monotonic()
    rc = subprocess.run(
        ["/usr/bin/time", "-q", "-o", out.name, "-f", "%M %U %S", *sys.argv[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).returncode
    elapsed = time.monotonic() - start
    fields = out.read().split()
kb, user, system = (fields[-3:] if len(fields) >= 3 else ["0", "0", "0"])
print(f"{elapsed:.3f} {kb} {rc} {float(user) + float(system):.3f}")
