#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""deps-check: every program the project's scripts run comes from a package
that scripts/deps.sh installs.

A fresh Debian 12 machine has the packages of a minimal system (priority
"required" and apt, with what they depend on) and whatever scripts/deps.sh
installs, with those packages' dependencies (apt-get install
--no-install-recommends).  This check reads every script of the tree and
lists what it runs:

- shell scripts (*.sh, files with an sh or bash "#!" line) and the
  Makefile's recipes, parsed by shfmt (a real parser: pipelines, command
  substitutions, here-documents, functions); the first word of every
  command, also behind wrappers (timeout, env, xargs, exec, find -exec,
  sh -c '...', python3 - <<EOF ...), and a command named by a variable
  assigned one literal value in the same file ($PY);
- Python programs: modules imported (outside the standard library) and
  programs run with subprocess;
- the literal blocks of the "Examples" sections of the documentation
  (tests/kernel/doc_examples.sh runs them in a guest);
- C tests and tools: programs spawned by name ({ "losetup", ... } argument
  vectors, execlp);
- absolute paths to programs and libraries (/usr/bin/..., /usr/lib/...)
  written in any of them.

Each program is looked up on the standard PATH without /usr/local, each
path in dpkg's file lists, and the owning package must be one a fresh
machine gets.  Shell builtins, functions defined in the scanned files and
the project's own programs are not looked up.  A name that cannot be
resolved (a variable with several values) is listed with --verbose.

Usage: deps-check.py [--packages "P ..."] [--verbose] [--list] [PATH ...]
  PATH            files or directories to scan (default: the whole tree)
  --packages      the package list (default: scripts/deps.sh --list)
  --list          print every program with the package it comes from
Exit codes: 0 all found, 1 something is not installed by deps.sh, 2 usage
or a tool missing (shfmt, dpkg).
"""

import argparse
import ast
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STD_PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
ABS_RE = re.compile(r"^/(?:usr/)?(?:s?bin|lib|libexec)/[A-Za-z0-9._+/-]+$")
SKIP_DIRS = {".git", "build", "results"}
# C is scanned in the tests, benchmarks and tools; the product's own
# search lists (PKCS#11 module directories) are not programs it runs.
C_DIRS = ("tests/", "bench/", "userspace/tools/")
SHELL_KEYWORDS = {"!", "[[", "]]", "{", "}", "case", "do", "done", "elif",
                  "else", "esac", "fi", "for", "function", "if", "in",
                  "select", "then", "time", "until", "while", "coproc"}

# shfmt's operators ${a-w}, ${a:-w}, ${a=w}, ${a:=w}.
DEFAULT_OPS = {70, 71, 74, 75}

# Wrappers: how many words (options with their values, leading operands)
# to skip before the command they run.  Options named here take a value.
WRAPPERS = {
    "exec": ("", 0), "command": ("", 0), "builtin": ("", 0),
    "nohup": ("", 0), "time": ("", 0), "setsid": ("", 0),
    "env": ("-u -C -S", 0), "nice": ("-n", 0), "ionice": ("-c -n -p", 0),
    "timeout": ("-s -k --signal --kill-after", 1),
    "stdbuf": ("-i -o -e", 0), "taskset": ("", 1),
    "chroot": ("--userspec --groups", 1), "unshare": ("", 0),
    "flock": ("-w -E --timeout --conflict-exit-code", 1),
    "xargs": ("-a -d -E -I -L -n -P -s --arg-file --delimiter "
              "--max-args --max-procs --max-lines --replace", 0),
    "sudo": ("-u -g", 0), "strace": ("-o -e -s -p", 0),
}


class Finding:
    def __init__(self):
        self.programs = {}      # name -> set of "file:line"
        self.paths = {}         # absolute path -> set of "file:line"
        self.modules = {}       # python module -> set of "file:line"
        self.unresolved = {}    # text -> set of "file:line"
        self.functions = set()

    @staticmethod
    def _add(d, key, where):
        d.setdefault(key, set()).add(where)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---- packages: what a fresh machine has -------------------------------

def dpkg_status():
    """Installed packages: name -> (priority, essential, depends, provides)."""
    fmt = ("${Package}\t${Status}\t${Priority}\t${Essential}\t"
           "${Pre-Depends}\t${Depends}\t${Provides}\n")
    r = run(["dpkg-query", "-W", "-f", fmt])
    if r.returncode not in (0, 1):
        sys.exit("deps-check: dpkg-query failed: " + r.stderr.strip())
    pkgs, provides = {}, {}
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if len(f) != 7 or not f[1].endswith(" installed"):
            continue
        deps = ", ".join(x for x in (f[4], f[5]) if x)
        pkgs[f[0]] = (f[2], f[3] == "yes", deps)
        for p in f[6].split(","):
            p = re.sub(r"\(.*?\)", "", p).strip()
            if p:
                provides.setdefault(p, set()).add(f[0])
    return pkgs, provides


def closure(roots, pkgs, provides):
    """The packages apt installs for roots, first alternatives only."""
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        if p not in pkgs:
            # Virtual: what provides it here.
            todo.extend(provides.get(p, ()))
            continue
        for group in pkgs[p][2].split(","):
            alt = group.split("|")[0]
            name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip()
            name = name.split(":")[0]
            if name:
                todo.append(name)
    return seen


def file_owners():
    """Every path in dpkg's file lists -> its package."""
    owners = {}
    info = "/var/lib/dpkg/info"
    for fn in os.listdir(info):
        if not fn.endswith(".list"):
            continue
        pkg = fn[:-5].split(":")[0]
        with open(os.path.join(info, fn), errors="replace") as f:
            for line in f:
                owners.setdefault(line.rstrip("\n"), pkg)
    return owners


def usrmerge_aliases(path):
    """The same file under / and /usr (merged /usr)."""
    out = [path]
    for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"),
                 ("/usr/lib/", "/lib/"), ("/usr/lib64/", "/lib64/")):
        if path.startswith(a):
            out.append(b + path[len(a):])
        elif path.startswith(b):
            out.append(a + path[len(b):])
    return out


def owner_of(path, owners):
    """The package that ships path, following symlinks (alternatives)."""
    for _ in range(16):
        for p in usrmerge_aliases(path):
            if p in owners:
                return owners[p], path
        if not os.path.islink(path):
            return None, path
        target = os.readlink(path)
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
    return None, path


def which(name):
    for d in STD_PATH:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


# ---- shell --------------------------------------------------------------

def word_literal(word, consts):
    """The literal value of a shell word, or None."""
    out = []
    for part in word.get("Parts", []):
        t = part.get("Type")
        if t in ("Lit", "SglQuoted"):
            out.append(part.get("Value", ""))
        elif t == "DblQuoted":
            v = word_literal(part, consts)
            if v is None:
                return None
            out.append(v)
        elif t == "ParamExp" and part.get("Exp") and part["Exp"].get("Op") in DEFAULT_OPS \
                and part["Exp"].get("Word") and not part.get("Index"):
            # ${VAR:-default}: the default, what a clean environment runs.
            v = word_literal(part["Exp"]["Word"], consts)
            if v is None:
                return None
            out.append(v)
        elif t == "ParamExp" and not part.get("Exp") and not part.get("Index") \
                and not part.get("Repl") and not part.get("Length") \
                and part.get("Param", {}).get("Value") in consts:
            out.append(consts[part["Param"]["Value"]])
        else:
            return None
    return "".join(out)


def shfmt_parse(text, name):
    r = run(["shfmt", "--tojson", "-ln", "bash"], input=text)
    if r.returncode != 0:
        raise SyntaxError(f"{name}: shfmt: {r.stderr.strip()}")
    return json.loads(r.stdout)


def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            if isinstance(v, (dict, list)):
                yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def file_consts(tree):
    """Variables assigned exactly one literal value in the file."""
    vals = {}
    for n in walk(tree):
        for a in n.get("Assigns", []) if n.get("Type") in ("CallExpr", "DeclClause") else []:
            name = a.get("Name", {}).get("Value")
            if not name or a.get("Array") or a.get("Append"):
                continue
            v = word_literal(a["Value"], {}) if a.get("Value") else None
            vals.setdefault(name, set()).add(v)
    consts = {k: next(iter(v)) for k, v in vals.items()
              if len(v) == 1 and None not in v and v != {""}}
    # cmd=(prog args...) run as "${cmd[@]}": the array's first element.
    firsts = {}
    for n in walk(tree):
        for a in n.get("Assigns", []) if n.get("Type") in ("CallExpr", "DeclClause") else []:
            name = a.get("Name", {}).get("Value")
            elems = (a.get("Array") or {}).get("Elems") or []
            if name and elems and not a.get("Append"):
                firsts.setdefault(name, set()).add(word_literal(elems[0]["Value"], {}))
    for k, v in firsts.items():
        if len(v) == 1 and None not in v:
            consts["@array " + k] = next(iter(v))
    return consts


def unwrap(args):
    """Skip a wrapper's options and operands: the wrapped command's index."""
    name = args[0]
    opts, operands = WRAPPERS[name]
    takes = set(opts.split())
    i = 1
    if name == "command" and len(args) > 1 and args[1] in ("-v", "-V"):
        # A lookup: the program is still expected to be there.
        return 2
    while i < len(args):
        a = args[i]
        if a is None:
            return None
        if name == "env" and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", a):
            i += 1
            continue
        if a == "--":
            i += 1
            break
        if a.startswith("-") and a != "-":
            i += 2 if (a in takes and "=" not in a) else 1
            continue
        break
    if name == "flock" and i < len(args) and args[i] is not None and args[i].isdigit():
        return None     # flock FD: no command
    if name in ("flock",) and i < len(args) and args[i] == "-c":
        return None
    return i + operands


def scan_shell_tree(tree, fname, found, consts, depth=0, line0=0):
    for n in walk(tree):
        # Any literal word naming a program or library by its path (in a
        # command, a for list, an assignment).
        if "Parts" in n and "Type" not in n:
            v = word_literal(n, consts)
            if v and ABS_RE.match(v):
                found._add(found.paths, v, f"{fname}:{n['Pos']['Line'] + line0}")
        if n.get("Type") == "FuncDecl":
            found.functions.add(n["Name"]["Value"])
        if n.get("Type") != "CallExpr" or not n.get("Args"):
            continue
        line = n["Pos"]["Line"] + line0
        where = f"{fname}:{line}"
        args = [word_literal(w, consts) for w in n["Args"]]
        parts = n["Args"][0].get("Parts", [])
        if args[0] is None and len(parts) == 1 and parts[0].get("Type") in ("ParamExp", "DblQuoted"):
            p = parts[0] if parts[0]["Type"] == "ParamExp" else (parts[0].get("Parts") or [{}])[0]
            if p.get("Type") == "ParamExp" and p.get("Index"):
                args[0] = consts.get("@array " + p.get("Param", {}).get("Value", ""))
        i = 0
        while i is not None and i < len(args):
            name = args[i]
            if name is None:
                found._add(found.unresolved, "command word at " + where, where)
                break
            if name in WRAPPERS:
                found._add(found.programs, name, where)
                k = unwrap(args[i:])
                i = None if k is None else i + k
                continue
            if "/" in name:
                if name.startswith("/"):
                    found._add(found.paths, name, where)
                name = os.path.basename(name)
            else:
                found._add(found.programs, name, where)
            rest = args[i + 1:]
            # sh -c 'CODE' / bash -c 'CODE': the code's commands too.
            if name in ("sh", "bash", "dash") and "-c" in rest:
                j = rest.index("-c")
                if j + 1 < len(rest) and rest[j + 1] and depth < 3:
                    try:
                        sub = shfmt_parse(rest[j + 1], where)
                        scan_shell_tree(sub, fname, found, consts, depth + 1,
                                        line - 1)
                    except SyntaxError:
                        pass
            # find ... -exec CMD ... ;
            if name == "find":
                for k, a in enumerate(rest[:-1]):
                    if a in ("-exec", "-execdir", "-ok", "-okdir") and rest[k + 1]:
                        if "/" not in rest[k + 1]:
                            found._add(found.programs, rest[k + 1], where)
            # python3 - <<EOF / python3 -c 'CODE'
            if name.startswith("python3"):
                code = None
                if "-c" in rest:
                    j = rest.index("-c")
                    code = rest[j + 1] if j + 1 < len(rest) else None
                if code:
                    scan_python_text(code, fname, found, line - 1)
            break
    # Here-documents fed to python3: their imports.
    for n in walk(tree):
        if not isinstance(n, dict) or "Cmd" not in n or not n.get("Redirs"):
            continue
        cmd = n.get("Cmd") or {}
        if cmd.get("Type") != "CallExpr" or not cmd.get("Args"):
            continue
        first = word_literal(cmd["Args"][0], consts) or ""
        if not os.path.basename(first).startswith("python3"):
            continue
        for r in n["Redirs"]:
            if r.get("Hdoc"):
                body = word_literal(r["Hdoc"], {})
                if body:
                    scan_python_text(body, fname, found, r["Hdoc"]["Pos"]["Line"] - 1 + line0)


def scan_shell(path, text, found):
    tree = shfmt_parse(text, path)
    scan_shell_tree(tree, path, found, file_consts(tree))


def rst_examples(text):
    """The literal blocks of an rst file's "Examples" section, as shell
    (what tests/kernel/doc_examples.sh runs), line numbers kept."""
    lines = text.splitlines()
    out = [""] * len(lines)
    in_ex = blk = False
    level = None
    for i, ln in enumerate(lines):
        underline = i + 1 < len(lines) and re.match(r"^([=~-])\1{3,}$", lines[i + 1])
        if underline and ln.strip():
            # A title: "Examples" opens the section, the next title of
            # its level closes it; subsections stay inside.
            if ln.strip() == "Examples":
                in_ex, level = True, underline.group(1)
            elif underline.group(1) == level:
                in_ex = False
            blk = False
            continue
        if not in_ex:
            continue
        if ln.endswith("::"):
            blk = True
        elif blk and ln.startswith("  "):
            out[i] = ln[2:]
        elif blk and ln.strip():
            blk = False
    return "\n".join(out) + "\n"


def make_recipes(text):
    """The Makefile's recipe lines as shell, make's variables replaced."""
    out = []
    subst = {"CC": "gcc", "AR": "ar", "MAKE": "make"}
    for ln in text.replace("\\\n", " ").splitlines():
        if not ln.startswith("\t"):
            continue
        ln = ln.lstrip("\t").lstrip("@-+")
        ln = re.sub(r"\$\(([A-Za-z_]+)\)",
                    lambda m: subst.get(m.group(1), "MKVAR_" + m.group(1)), ln)
        # Automatic variables ($@, $(@D)) and functions ($(filter ...)).
        ln = re.sub(r"\$\([@<^*?][DF]?\)|\$[@<^*?]", "MKAUTO", ln)
        ln = re.sub(r"\$\([a-z]+ [^()$]*(?:\$[@<^*?][^()$]*)*\)", "MKFN", ln)
        ln = ln.replace("$$", "$")
        out.append(ln)
    return "\n".join(out) + "\n"


# ---- python -------------------------------------------------------------

def scan_python_text(text, fname, found, line0=0):
    """Imports, subprocess calls and program paths of Python code that
    starts at line line0 + 1 of fname."""
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise SyntaxError(f"{fname}:{(e.lineno or 0) + line0}: python: {e.msg}") from None
    for n in ast.walk(tree):
        w = f"{fname}:{getattr(n, 'lineno', 0) + line0}"
        if isinstance(n, ast.Import):
            for a in n.names:
                found._add(found.modules, a.name.split(".")[0], w)
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            found._add(found.modules, n.module.split(".")[0], w)
        elif isinstance(n, ast.Call) and n.args and \
                isinstance(n.args[0], (ast.List, ast.Tuple)) and n.args[0].elts and \
                isinstance(n.args[0].elts[0], ast.Constant) and \
                isinstance(n.args[0].elts[0].value, str) and \
                isinstance(n.func, ast.Attribute) and \
                isinstance(n.func.value, ast.Name) and n.func.value.id == "subprocess":
            prog = n.args[0].elts[0].value
            if prog.startswith("/"):
                found._add(found.paths, prog, w)
            elif "/" not in prog:
                found._add(found.programs, prog, w)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and ABS_RE.match(n.value):
            found._add(found.paths, n.value, w)


def scan_python(path, text, found):
    scan_python_text(text, path, found)


# ---- C --------------------------------------------------------------------

C_ARGV = re.compile(r'char\s*\*\s*(?:const\s+)?(\w+)\s*\[\s*\]\s*=\s*\{\s*"([^"/]+)"')
C_EXEC = re.compile(r'\bexecl?v?p\s*\(\s*"([^"]+)"')
C_PATH = re.compile(r'"(/(?:usr/)?(?:s?bin|lib|libexec)/[A-Za-z0-9._+/-]+)"')


def scan_c(path, text, found):
    for ln_no, ln in enumerate(text.splitlines(), 1):
        where = f"{path}:{ln_no}"
        # An argument vector counts when it is handed to a function that
        # runs it (run(), cmk_test_run(), execvp(), posix_spawnp(), ...).
        for m in C_ARGV.finditer(ln):
            used = re.compile(r"\b\w*(?:run|spawn|exec)\w*\s*\([^;]*?\b%s\b\s*(?:\[\s*0\s*\])?\s*[,)]"
                              % re.escape(m.group(1)))
            if used.search(text):
                found._add(found.programs, m.group(2), where)
        for m in C_EXEC.finditer(ln):
            found._add(found.programs, m.group(1), where)
        for m in C_PATH.finditer(ln):
            found._add(found.paths, m.group(1), where)


# ---- the tree -------------------------------------------------------------

def kind_of(path):
    base = os.path.basename(path)
    if base == "Makefile":
        return "make"
    if base.endswith(".sh"):
        return "shell"
    if base.endswith(".py"):
        return "python"
    if base.endswith((".c", ".h")):
        return "c"
    if base.endswith(".rst"):
        return "rst"
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return None
    if first.startswith(b"#!"):
        if re.search(rb"\b(ba|da)?sh\b", first):
            return "shell"
        if b"python" in first:
            return "python"
    return None


def tree_files(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for d, dirs, files in os.walk(p):
            dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
            for f in sorted(files):
                yield os.path.join(d, f)


def project_programs():
    """Names of the project's own programs (built or shipped)."""
    names = set()
    for d, dirs, files in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS]
        for f in files:
            names.add(f)
            names.add(os.path.splitext(f)[0])
    try:
        with open(os.path.join(ROOT, "Makefile")) as f:
            for m in re.finditer(r"build/[A-Za-z0-9_/.-]*/([A-Za-z0-9_.-]+)", f.read()):
                names.add(m.group(1))
    except OSError:
        pass
    return names


def builtins():
    r = run(["bash", "-c", "compgen -b; compgen -k"])
    return set(r.stdout.split()) | SHELL_KEYWORDS


def deps_packages():
    r = run([os.path.join(ROOT, "scripts", "deps.sh"), "--list"])
    if r.returncode != 0:
        sys.exit("deps-check: scripts/deps.sh --list failed: " + r.stderr.strip())
    return r.stdout.split()


def python_module_file(mod):
    r = run(["/usr/bin/python3", "-I", "-c",
             "import importlib.util, sys\n"
             "s = importlib.util.find_spec(sys.argv[1])\n"
             "print(s.origin if s and s.origin else (list(s.submodule_search_locations)[0]"
             " if s and s.submodule_search_locations else ''))", mod],
            env={"PATH": ":".join(STD_PATH)})
    return r.stdout.strip() or None


def stdlib_modules():
    r = run(["/usr/bin/python3", "-I", "-c",
             "import sys; print(' '.join(sorted(sys.stdlib_module_names)))"],
            env={"PATH": ":".join(STD_PATH)})
    return set(r.stdout.split())


def main():
    ap = argparse.ArgumentParser(description="check that deps.sh installs "
                                 "every program the scripts run")
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--packages")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--list", action="store_true")
    opt = ap.parse_args()

    for tool in ("shfmt", "dpkg-query"):
        if not which(tool):
            print(f"deps-check: {tool} not found (scripts/deps.sh installs it)", file=sys.stderr)
            return 2
    listed = opt.packages.split() if opt.packages is not None else deps_packages()
    pkgs, provides = dpkg_status()
    base = {p for p, (prio, ess, _) in pkgs.items() if prio == "required" or ess}
    base.add("apt")
    fresh = closure(set(listed) | base, pkgs, provides)
    owners = file_owners()

    os.chdir(ROOT)
    paths = opt.paths or ["."]
    found = Finding()
    errors = []
    nfiles = 0
    for path in tree_files(paths):
        kind = kind_of(path)
        if not kind:
            continue
        rel = os.path.relpath(path, ROOT) if os.path.isabs(path) else os.path.normpath(path)
        try:
            with open(path, errors="replace") as f:
                text = f.read()
            nfiles += 1
            if kind == "shell":
                scan_shell(rel, text, found)
            elif kind == "rst":
                ex = rst_examples(text)
                if ex.strip():
                    scan_shell(rel + " (Examples)", ex, found)
            elif kind == "make":
                scan_shell(rel + " (recipes)", make_recipes(text), found)
            elif kind == "python":
                scan_python(rel, text, found)
            elif kind == "c":
                if opt.paths or rel.startswith(C_DIRS):
                    scan_c(rel, text, found)
        except SyntaxError as e:
            errors.append(str(e))

    own = project_programs()
    skip = builtins() | found.functions | own
    stdlib = stdlib_modules()
    bad, table = [], []

    def where(ws):
        ws = sorted(ws)
        return ", ".join(ws[:3]) + (f" (+{len(ws) - 3})" if len(ws) > 3 else "")

    def judge(kind, name, path, ws):
        if path is None:
            bad.append(f"{kind} {name}: not installed on this machine at all ({where(ws)})")
            return
        pkg, real = owner_of(path, owners)
        if pkg is None:
            bad.append(f"{kind} {name}: {real} belongs to no Debian package ({where(ws)})")
        elif pkg not in fresh:
            bad.append(f"{kind} {name}: from package {pkg}, which scripts/deps.sh does "
                       f"not install ({where(ws)})")
        table.append((kind, name, pkg or "-"))

    for name, ws in sorted(found.programs.items()):
        if name in skip:
            continue
        judge("program", name, which(name), ws)
    for path, ws in sorted(found.paths.items()):
        if os.path.basename(path) in own and not os.path.exists(path):
            continue
        if path.endswith("/") or os.path.isdir(path):
            continue    # a directory: what is in it is looked up by name
        if not os.path.lexists(path):
            # One candidate of several (another architecture's library
            # directory, another distribution's): what runs here exists.
            found._add(found.unresolved, f"absent path {path}", where(ws))
            continue
        judge("path", path, path, ws)
    for mod, ws in sorted(found.modules.items()):
        if mod in stdlib or mod in skip:
            continue
        judge("python module", mod, python_module_file(mod), ws)

    if opt.list:
        for kind, name, pkg in table:
            print(f"{kind:14} {name:32} {pkg}")
    if opt.verbose:
        for u, ws in sorted(found.unresolved.items()):
            print(f"# unresolved: {u}")
    for e in errors:
        print(f"deps-check: {e}")
    for b in bad:
        print(f"deps-check: {b}")
    print(f"# deps-check: {nfiles} files, {len(table)} programs, paths and modules, "
          f"{len(bad)} not installed by scripts/deps.sh, {len(found.unresolved)} "
          f"left unresolved (command words through variables, absent candidate paths)")
    return 1 if bad or errors else 0


if __name__ == "__main__":
    sys.exit(main())
