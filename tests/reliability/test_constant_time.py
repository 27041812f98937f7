"""Every comparison of a secret or a token is constant-time (docs/security.md).

``a == b`` on strings stops at the first differing character, so its timing tells
an attacker how much of a guess was right; ``hmac.compare_digest`` does not. A
static check over the package's source: any ``==``, ``!=``, ``in`` or ``not in``
between two non-literal values, one of which names a secret or a token, fails.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nb_sse_signals

PACKAGE = Path(nb_sse_signals.__file__).parent
SECRET_NAME = re.compile(r"secret|token|password|credential", re.IGNORECASE)
# A JSON Pointer's reference tokens (RFC 6901) are not secrets.
NOT_SECRETS = {"_patch.py": {"token"}}
UNSAFE = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def names_in(node: ast.AST) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
    return found


def is_literal(node: ast.AST) -> bool:
    """A constant, or a call on one (``"".encode()``): nothing secret to leak."""
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Constant)
    )


def secret_comparisons(source: str, filename: str) -> list[str]:
    """``file:line: code`` of each comparison of a secret that is not constant-time."""
    tree = ast.parse(source, filename)
    ignored = NOT_SECRETS.get(filename, set())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, UNSAFE) or is_literal(left) or is_literal(right):
                continue
            secret = {n for n in names_in(left) | names_in(right) if SECRET_NAME.search(n)}
            if secret - ignored:
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def compare_digest_calls(source: str) -> int:
    return sum(
        1
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compare_digest"
    )


def test_no_secret_or_token_is_compared_with_a_timing_leak() -> None:
    found = [
        hit
        for path in sorted(PACKAGE.glob("*.py"))
        for hit in secret_comparisons(path.read_text(), path.name)
    ]
    assert found == [], "use hmac.compare_digest for:\n" + "\n".join(found)


def test_the_places_that_check_a_secret_or_token_use_compare_digest() -> None:
    # The check above only finds what it can see: the credential checks it knows of
    # must still be there, each through compare_digest.
    for module, at_least in (("_publish_endpoint.py", 1), ("_handlers.py", 2), ("_server.py", 1)):
        calls = compare_digest_calls((PACKAGE / module).read_text())
        assert calls >= at_least, f"{module}: {calls} compare_digest calls, expected {at_least}"


def test_the_check_finds_each_way_of_comparing_a_secret_openly() -> None:
    leaks = [
        "ok = given.encode() == self.secret.encode()",
        "ok = token != expected",
        "ok = query_token in self.tokens",
        "ok = a < b == publish_secret",
    ]
    for code in leaks:
        assert secret_comparisons(code, "x.py"), code
    safe = [
        "ok = hmac.compare_digest(given.encode(), self.secret.encode())",
        'ok = token == ""',
        "ok = token is None",
        'ok = secret.encode() == "".encode()',
        "ok = name == other",
    ]
    for code in safe:
        assert not secret_comparisons(code, "x.py"), code
