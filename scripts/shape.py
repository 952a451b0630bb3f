#!/usr/bin/env python3
"""The shape of server/src, checked: no import cycle between modules, no long file or function.

    scripts/shape.py            # prints the findings; exit 1 when a rule is broken
    scripts/shape.py --graph    # also prints every module's imports

Rules (issue "One home per feature"; docs/architecture.md):

- No import cycle between modules. A module is a file (`store/redis/commerce.rs` is
  `store::redis::commerce`). An edge runs from a module to each module whose items it names
  (`use crate::…`, `super::…`, `crate::a::b::` in code). A parent naming its own descendants
  (declaring them, re-exporting them) is not an edge: that is how Rust lays out a module tree.
- No file over --max-file-lines (700) unless it is listed in ONE_CONCEPT below with why.
- No function over --max-fn-lines (80) lines of code (blank lines and comments not counted);
  clippy's `too_many_lines` (clippy.toml) checks the same with the compiler's view.
- No stable error code spelt as a string literal outside its enum (`domain/code.rs`, `Code`):
  code that answers with one names the variant. Tests may compare with the wire text.

The load tool (server/src/bin/) is outside these rules, as the issue says.
"""

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "server" / "src"

# Files allowed over the line limit because they hold one concept (path: why).
ONE_CONCEPT: dict[str, str] = {}


def module_of(path: Path) -> tuple[str, ...]:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\])'", "''", text)  # char literals, '"' among them
    text = re.sub(r'\br(#*)".*?"\1', '""', text, flags=re.S)  # raw strings
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)  # strings, over lines too
    return re.sub(r"//[^\n]*", "", text)


def resolve(path: tuple[str, ...], modules: set[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The longest module that `path` starts with."""
    for n in range(len(path), 0, -1):
        if path[:n] in modules:
            return path[:n]
    return None


USE_RE = re.compile(r"\buse\s+([^;]+);", re.S)
PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d}}` → ['a::b', 'a::c::d']."""
    tree = re.sub(r"\s+", "", tree)
    out: list[str] = []

    def walk(prefix: str, rest: str) -> None:
        i = rest.find("{")
        if i < 0:
            out.append(prefix + rest)
            return
        head, body = rest[:i], rest[i + 1 : -1]
        depth, start = 0, 0
        for j, ch in enumerate(body + ","):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                part = body[start:j]
                if part:
                    walk(prefix + head, part)
                start = j + 1

    walk("", tree)
    return out


def absolute(me: tuple[str, ...], is_mod_file: bool, path: str) -> tuple[str, ...] | None:
    parts = [p for p in path.split("::") if p]
    if not parts:
        return None
    # `super` is relative to the module itself (a file `a/b.rs` is module a::b, super = a).
    base = list(me)
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    elif parts[0] in ("super", "self"):
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
    else:
        return None
    return tuple(base + parts)


def imports(path: Path, modules: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    me = module_of(path)
    text = strip_comments(path.read_text())
    text = re.sub(r"#\[cfg\(test\)\]\s*mod\s+tests\s*\{.*", "", text, flags=re.S)
    found: set[tuple[str, ...]] = set()
    names: list[str] = []
    for m in USE_RE.finditer(text):
        names.extend(expand_use(m.group(1)))
    for m in PATH_RE.finditer(text):
        names.append(m.group(1) + m.group(2))
    for name in names:
        target = absolute(me, path.name == "mod.rs", name.split(" as ")[0])
        if target is None:
            continue
        module = resolve(target, modules)
        if module is None or module == me or module[: len(me)] == me:
            continue  # itself, or its own descendants
        found.add(module)
    return found


def cycles(graph: dict[tuple[str, ...], set[tuple[str, ...]]]) -> list[list[tuple[str, ...]]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    out: list = []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def long_functions(path: Path, limit: int) -> list[tuple[int, str, int]]:
    lines = path.read_text().splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = FN_RE.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, count, j = 0, False, 0, i
        in_block_comment = False
        while j < len(lines):
            raw = lines[j]
            code = re.sub(r'"(?:\\.|[^"\\])*"', '""', raw)
            code = re.sub(r"'(?:\\.|[^'\\])'", "''", code)
            stripped = code.strip()
            if in_block_comment:
                if "*/" in stripped:
                    in_block_comment = False
                j += 1
                continue
            if stripped.startswith("/*"):
                in_block_comment = "*/" not in stripped
                j += 1
                continue
            code = code.split("//")[0]
            if not started and ";" in code and "{" not in code:
                break  # a declaration without a body
            if code.strip():
                count += 1
            for ch in code:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
            if started and depth <= 0:
                break
            j += 1
        if started and count > limit:
            out.append((i + 1, m.group(1), count))
        i = j + 1 if started else i + 1
    return out


CODES_FILE = SRC / "domain" / "code.rs"


def error_codes() -> set[str]:
    """The wire texts of `Code`'s variants (`SoldOut = "sold_out",`)."""
    text = CODES_FILE.read_text()
    body = text[text.index("codes! {"):]
    return set(re.findall(r'^\s+[A-Z]\w* = "([a-z0-9_]+)",$', body, re.M))


def spelt_codes(path: Path, codes: set[str]) -> list[tuple[int, str]]:
    """Lines outside tests that spell an error code as a string literal."""
    if path == CODES_FILE or path.name == "tests.rs" or "tests" in path.relative_to(SRC).parts:
        return []
    text = path.read_text()
    cut = re.search(r"^#\[cfg\(test\)\]\s*\nmod tests", text, re.M)
    if cut:
        text = text[: cut.start()]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("//"):
            continue
        for m in re.finditer(r'"([a-z0-9_]+)"', line):
            if m.group(1) in codes:
                out.append((n, m.group(1)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-file-lines", type=int, default=700)
    ap.add_argument("--max-fn-lines", type=int, default=80)
    ap.add_argument("--graph", action="store_true")
    args = ap.parse_args()

    files = sorted(p for p in SRC.rglob("*.rs") if "bin" not in p.relative_to(SRC).parts)
    modules = {module_of(p) for p in files}
    graph = {module_of(p): imports(p, modules) for p in files}
    broken = 0

    if args.graph:
        for mod, deps in sorted(graph.items()):
            print("::".join(mod) or "crate", "→", ", ".join(sorted("::".join(d) for d in deps)))

    for comp in cycles(graph):
        broken += 1
        names = [("::".join(m) or "crate") for m in comp]
        print(f"import cycle: {' ↔ '.join(names)}")
        for a in comp:
            for b in comp:
                if b in graph[a]:
                    print(f"    {'::'.join(a)} → {'::'.join(b)}")

    for p in files:
        rel = str(p.relative_to(ROOT))
        n = len(p.read_text().splitlines())
        if n > args.max_file_lines and rel not in ONE_CONCEPT:
            broken += 1
            print(f"long file: {rel}: {n} lines (> {args.max_file_lines})")
        for line, name, count in long_functions(p, args.max_fn_lines):
            broken += 1
            print(f"long function: {rel}:{line} {name}: {count} lines (> {args.max_fn_lines})")

    codes = error_codes()
    for p in files:
        for line, code in spelt_codes(p, codes):
            broken += 1
            print(f"error code spelt out: {p.relative_to(ROOT)}:{line} \"{code}\" (name Code's variant)")

    print(f"shape: {len(files)} files, {len(modules)} modules, {broken} findings")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
