"""Reads mpf's dashboard exports with their real readers and prints what they hold, normalised
to one JSON list of samples [set, run, repetition, ok, result, value, unit, labels], sorted:
  samples FILE      pandas (and DuckDB) read the JSON lines
  influx FILE       line-protocol-parser parses every line
  openmetrics FILE  promtool tsdb create-blocks-from openmetrics, then promtool tsdb dump
The CLI test compares the lists with what mpf recorded. Exit 2 when a reader is missing."""

import json
import math
import os
import re
import subprocess
import sys
import tempfile


def missing(what):
    print(f"missing: {what}", file=sys.stderr)
    sys.exit(2)


def norm(rows):
    out = []
    for r in rows:
        v = r[5]
        out.append([r[0], int(r[1]), int(r[2]), bool(r[3]), r[4],
                    None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v),
                    r[6], dict(sorted(r[7].items()))])
    return sorted(out, key=lambda r: (r[0], r[1], r[4]))


def samples(path):
    try:
        import pandas as pd
    except ImportError:
        missing("pandas")
    df = pd.read_json(path, lines=True, dtype=False, precise_float=True)
    rows = [[r["set"], r["run"], r["repetition"], r["ok"], r["result"], r["value"], r["unit"],
             r["labels"]] for r in df.to_dict("records")]
    try:
        import duckdb
    except ImportError:
        missing("duckdb")
    con = duckdb.connect()
    got = con.execute(
        "select set, run, repetition, ok, result, value, unit, to_json(labels)::varchar "
        "from read_json(?, format='newline_delimited', columns={set: 'VARCHAR', run: 'BIGINT', "
        "repetition: 'BIGINT', ok: 'BOOLEAN', result: 'VARCHAR', value: 'DOUBLE', unit: "
        "'VARCHAR', labels: 'JSON'})", [path]).fetchall()
    ducked = [[*r[:7], json.loads(r[7])] for r in got]
    if norm(ducked) != norm(rows):
        print("duckdb and pandas disagree", file=sys.stderr)
        sys.exit(1)
    return rows


def influx(path):
    try:
        from line_protocol_parser import parse_line
    except ImportError:
        missing("line-protocol-parser")
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = parse_line(line)
            tags = dict(p["tags"])
            fields = p["fields"]
            assert p["measurement"] == "mpf", p
            s, _, r, u = (tags.pop(k, "") for k in ("set", "experiment", "result", "unit"))
            rows.append([s, fields["run"], fields["repetition"], fields["ok"], r,
                         fields["value"], u, tags])
    return rows


LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def openmetrics(path):
    if subprocess.run(["sh", "-c", "command -v promtool"], capture_output=True).returncode:
        missing("promtool")
    with tempfile.TemporaryDirectory() as tsdb:
        # promtool 2.42's dump wants a WAL directory, which block creation does not make.
        os.makedirs(os.path.join(tsdb, "wal"))
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", path, tsdb],
                       check=True, capture_output=True)
        dump = subprocess.run(["promtool", "tsdb", "dump", tsdb], check=True,
                              capture_output=True, text=True).stdout
    rows = []
    for line in dump.splitlines():
        if not line.startswith("{"):
            continue
        end = line.rindex("}")
        labels = {k: json.loads(f'"{v}"') for k, v in LABEL.findall(line[1:end])}
        value, _ts = line[end + 1:].split()
        assert labels.pop("__name__") == "mpf_result", line
        s, _, r, u, ok, run, rep = (labels.pop(k, "") for k in (
            "set", "experiment", "result", "unit", "ok", "run", "repetition"))
        rows.append([s, run, rep, ok == "true", r, float(value), u, labels])
    return rows


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    print(json.dumps(norm({"samples": samples, "influx": influx,
                           "openmetrics": openmetrics}[mode](path))))
