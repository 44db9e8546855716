#!/usr/bin/env python3
"""The original mpf iperf example written in Python: TCP goodput against the number of parallel
streams, with and without zero-copy. examples/iperf.yaml is the same experiment as a file.

Runs on this machine when iperf3 is installed (server and client then share the loopback);
with a cluster file (`python3 examples/iperf.py cluster.yaml`) the roles go to its machines.
"""

import sys

import mpf


def experiment(runs: int = 3) -> mpf.Experiment:
    exp = mpf.Experiment("iperf", runs=runs,
                         description="Goodput vs parallel streams and zero-copy")
    exp.add_variable("parallel", range(1, 9))
    exp.add_variable("zerocopy", {"": "disabled", "-Z": "enabled"})
    exp.add_variable("port", 5201)
    exp.step(name="server", role="server", run="iperf3 -s -p {{ port }} --forceflush",
             background=True, ready={"log": "Server listening", "timeout": "10s"})
    # The full report stays in the run's directory; stdout gets its last receiver line: the
    # [SUM] over the -P streams (or the only stream's line when there is one).
    exp.step(name="client", role="client", delay=1, timeout="30s",
             run="iperf3 -f k -t 2 -P {{ parallel }} {{ zerocopy }} -p {{ port }} "
                 "-c {{ roles.server.ip }} > {{ run_dir }}/iperf.txt\n"
                 "grep receiver {{ run_dir }}/iperf.txt | tail -n 1\n",
             results={"goodput": {"regex": r"([0-9.]+ [KMG]bits)/sec\s+receiver",
                                  "unit": "bit/s"}})
    exp["plot"] = {"x": "parallel", "y": "goodput", "series": "zerocopy"}
    return exp


if __name__ == "__main__":
    cluster = sys.argv[1] if len(sys.argv) > 1 else None
    rs = experiment().run(cluster=cluster)
    df = rs.df
    print(df.groupby(level=["zerocopy", "parallel"])["goodput"].mean().unstack(0) / 1e9)
