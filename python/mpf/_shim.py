"""What runs an `@mpf.run` function on a machine, with nothing but python3 there (3.6 or later,
the standard library only). The controller sends this file's text and a payload (base64 JSON)
as arguments of `python3 -c`, and the engine renders the point's context (`tojson`) as the last
one. It is never imported by the mpf package: it is shipped as text (`mpf._original`).

argv: [-c, SHIM (this text, base64), PAYLOAD (base64 JSON), CONTEXT (JSON)]. The payload holds the function's code as
IPython's transformer left it (`!cmd` became `get_ipython().getoutput('cmd')`...), the imports
it uses, its original file and line, and its original lines (for the traceback's text).
"""

import base64
import json
import linecache
import os
import re
import subprocess
import sys
import traceback


class SList(list):
    """The lines of a command's output, as IPython's `!` gives them: `[0]`, `.s` (joined with
    spaces), `.n` (with newlines), `.l` (the list), `.p` (paths), `.fields()`, `.grep()`."""

    @property
    def s(self):
        return " ".join(self)

    @property
    def n(self):
        return "\n".join(self)

    @property
    def l(self):  # noqa: E743 - IPython's name
        return list(self)

    @property
    def p(self):
        return [p for p in self if os.path.exists(p)]

    def fields(self, *indices):
        rows = [line.split() for line in self]
        if not indices:
            return SList(" ".join(r) for r in rows)
        return SList(" ".join(r[i] for i in indices if -len(r) <= i < len(r)) for r in rows)

    def grep(self, pattern, prune=False):
        keep = re.compile(pattern).search
        return SList(line for line in self if bool(keep(line)) != prune)


_DOLLAR = re.compile(r"(.*?)\$(\$?[\w.]+)(?=([^']*'[^']*')*[^']*$)", re.S)


class _Expand:
    """IPython's interpolation of a command line: `{expr}` is evaluated, `$name` (`$a.b`)
    too, outside single quotes; `$$` is a literal `$`, `{{` and `}}` literal braces. Where it
    fails, the line is left as written (as IPython does)."""

    def __init__(self, namespace):
        self.ns = namespace

    def _dollars(self, text):
        out, last = [], 0
        for m in _DOLLAR.finditer(text):
            out.append(m.group(1))
            field = m.group(2)
            out.append(field if field.startswith("$") else str(eval(field, self.ns)))
            last = m.end()
        out.append(text[last:])
        return "".join(out)

    def __call__(self, line):
        import string

        try:
            out = []
            for literal, field, spec, conv in string.Formatter().parse(line):
                out.append(self._dollars(literal))
                if field is not None:
                    expr = field + (":" + spec if spec else "")
                    value = eval(expr, self.ns)
                    out.append(repr(value) if conv == "r" else str(value))
            return "".join(out)
        except Exception:
            return line


class CommandFailed(Exception):
    """`%ex CMD` exited with a non-zero status."""


class _Shell:
    """`get_ipython()` on the machine: `!cmd`, `x = !cmd` and `%ex cmd`, run by /bin/sh."""

    def __init__(self, user_ns):
        self.user_ns = user_ns

    def _expand(self, cmd, depth):
        ns = dict(self.user_ns)
        ns.update(sys._getframe(depth + 2).f_locals)
        return _Expand(ns)(cmd)

    def system(self, cmd):
        sys.stdout.flush()
        sys.stderr.flush()
        code = subprocess.call(["/bin/sh", "-c", self._expand(cmd, 0)])
        self.user_ns["_exit_code"] = code
        return None

    def getoutput(self, cmd, split=True, depth=0):
        sys.stdout.flush()
        proc = subprocess.run(["/bin/sh", "-c", self._expand(cmd, depth)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.user_ns["_exit_code"] = proc.returncode
        text = proc.stdout.decode("utf-8", "replace")
        return SList(text.splitlines()) if split else text

    def run_line_magic(self, name, line, _stack_depth=1):
        if name != "ex":
            raise NameError("%" + name + ": only %ex runs on the machines (with ! and x = !)")
        cmd = self._expand(line, 0)
        sys.stdout.flush()
        sys.stderr.flush()
        if "&" in re.split(r"[\s;|()]+", cmd):
            # A command sent to the background: its output is not waited for (the original's
            # %ex does the same).
            code, out = subprocess.call(["/bin/sh", "-c", cmd]), ""
        else:
            proc = subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE)
            code, out = proc.returncode, proc.stdout.decode("utf-8", "replace")
            sys.stdout.write(out)
            sys.stdout.flush()
        self.user_ns["_exit_code"] = code
        if code != 0:
            raise CommandFailed("%ex " + cmd + ": exit status " + str(code))
        return SList(out.splitlines())

    run_cell_magic = None


_NAME = re.compile(r"^[^\s,]{1,128}$")
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(\s|[^\s\d]|$)")


def _result_lines(results):
    """The returned dict as `mpf-result` lines, which the engine reads (units included)."""
    if results is None:
        return []
    if not isinstance(results, dict):
        raise TypeError("an @mpf.run function returns a dict of results (or None), not "
                        + type(results).__name__)
    lines = []
    for name, value in results.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("result name %r: a word of at most 128 bytes, no comma" % (name,))
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, bool):
                v = int(v)
            if isinstance(v, (int, float)):
                text = repr(float(v)) if isinstance(v, float) else str(v)
            elif isinstance(v, str) and "\n" not in v and _NUMBER.match(v):
                text = v.strip()
            elif isinstance(v, bytes):
                raise TypeError("result %r: bytes %r, decode it first" % (name, v))
            else:
                raise ValueError("result %r: %r is not a number (a number, or a text such as "
                                 "'9.41 Gbits' that starts with one)" % (name, v))
            lines.append("mpf-result %s %s" % (name, text))
    return lines


def _context(raw):
    """`mpf_ctx`: the template context; a role without interfaces in the cluster file (every
    role without one) gets one interface named after nothing, at its `ip`, as the original's
    local cluster had `lo`."""
    ctx = json.loads(raw)
    for role in ctx.get("roles", {}).values():
        if not role.get("interfaces"):
            role["interfaces"] = [{"name": "", "ip": role.get("ip")}]
    return ctx


def _compile(text, line, filename):
    import ast

    tree = ast.parse(text, filename)
    ast.increment_lineno(tree, line - 1)
    return compile(tree, filename, "exec")


def main(payload_b64, context_json):
    p = json.loads(base64.b64decode(payload_b64).decode("utf-8"))
    filename = p["file"]
    lines = [""] * (p["line"] - 1) + p["lines"]
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    ctx = _context(context_json)
    ns = {"__name__": "__mpf__", "__file__": filename}
    ns.update(p.get("globals", {}))
    shell = _Shell(ns)
    ns["get_ipython"] = lambda: shell
    run_dir = ctx.get("run_dir")
    if run_dir and os.path.isdir(run_dir):
        os.chdir(run_dir)
    try:
        for text, line in p["imports"]:
            # Not the function's file: a failing import names itself, not the file's line 1.
            exec(_compile(text, line, "<imports sent with %s>" % p["name"]), ns)
        exec(_compile(p["code"], p["line"], filename), ns)
        args = dict(ctx.get("variables", {}))
        if "mpf_ctx" in p["params"]:
            args["mpf_ctx"] = ctx
        results = ns[p["name"]](**{k: args[k] for k in p["params"] if k in args})
        out = _result_lines(results)
    except BaseException as e:
        sys.stdout.flush()
        # The user's frames (the function, what it called), not this shim's.
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if f.filename != "<mpf-shim>"]
        text = "".join(traceback.format_exception_only(type(e), e))
        if frames:
            text = ("Traceback (most recent call last):\n"
                    + "".join(traceback.format_list(frames)) + text)
        sys.stderr.write(text)
        sys.stderr.flush()
        return 1
    sys.stdout.flush()
    os.write(1, ("\n" + "\n".join(out) + "\n").encode() if out else b"")
    return 0


sys.exit(main(sys.argv[2], sys.argv[3]))
