#!/usr/bin/env python3
"""Lists C++ functions longer than a limit (docs/architecture.md: none in runtime/ over 60 lines).

A function's length is counted from the line of its opening brace to the line of its closing
one, both included. Namespace bodies do not count as functions; class bodies and lambdas are
part of the function or class around them, and a class's inline member functions are counted
like any other. Comments, string and character literals are skipped when braces are matched.

  tools/lint/function_lengths.py [--limit 60] FILE_OR_DIR...

Exits 1 when any function is over the limit (each printed as path:line: N lines), else 0.
"""
import argparse
import os
import re
import sys

_NAMESPACE = re.compile(r'\bnamespace\b[\w:\s]*$')
_TYPE = re.compile(r'\b(class|struct|union|enum)\b[^;()]*$')


def _code_only(text):
    """`text` with comments and literals blanked out, newlines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            end = text.find(')' + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            out.append(' ' * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def long_functions(path, limit):
    with open(path, encoding='utf-8') as f:
        code = _code_only(f.read())
    found = []
    # Each open brace: (kind, line); kind is 'scope' (namespace, class, extern) or 'function'.
    stack = []
    line = 1
    statement_start = 0
    for i, c in enumerate(code):
        if c == '\n':
            line += 1
        elif c in ';':
            statement_start = i + 1
        elif c == '{':
            head = code[statement_start:i].strip()
            inside_function = any(kind == 'function' for kind, _ in stack)
            if inside_function:
                kind = 'inner'
            elif _NAMESPACE.search(head) or head.startswith('extern') or _TYPE.search(head):
                kind = 'scope'
            elif head.endswith(')') or re.search(r'\)\s*(const|override|final|noexcept|'
                                                 r'ABSL_\w+\([^)]*\)|\s)*$', head) or \
                    re.search(r'\)\s*(const\s*)?(->\s*[\w:<>,\s*&]+)?$', head) or ':' in head:
                kind = 'function'
            else:
                kind = 'inner'  # an initializer or an array: not a function
            stack.append((kind, line))
            statement_start = i + 1
        elif c == '}':
            if stack:
                kind, opened = stack.pop()
                if kind == 'function' and line - opened + 1 > limit:
                    found.append((opened, line - opened + 1))
            statement_start = i + 1
    return found


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--limit', type=int, default=60)
    parser.add_argument('paths', nargs='+')
    args = parser.parse_args(argv)
    files = []
    for path in args.paths:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                files += [os.path.join(root, name) for name in sorted(names)
                          if name.endswith(('.cc', '.h')) and not name.endswith('_test.cc')]
        else:
            files.append(path)
    over = 0
    for path in sorted(files):
        for opened, length in long_functions(path, args.limit):
            print(f'{path}:{opened}: {length} lines (limit {args.limit})')
            over += 1
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
