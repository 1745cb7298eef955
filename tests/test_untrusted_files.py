"""Untrusted files are never executed (issue 15, design §3 "never unpickle user files").

Every Python source of the package and the app is parsed and searched for calls that can run code
from a file: `pickle.load(s)` (and dill/joblib/shelve/marshal), `torch.load` without
`weights_only=True`, `np.load(..., allow_pickle=True)`, `yaml.load`/`unsafe_load`/`full_load`,
builtin `eval`/`exec`/`compile`, and `pickle.Unpickler` subclasses that do not restrict `find_class`.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "actionpose").rglob("*.py"), *(ROOT / "app").rglob("*.py")])

_UNSAFE_MODULE_CALLS = {("pickle", "load"), ("pickle", "loads"), ("dill", "load"), ("dill", "loads"),
                        ("joblib", "load"), ("shelve", "open"), ("marshal", "load"), ("marshal", "loads"),
                        ("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"), ("yaml", "load_all")}
_UNSAFE_BUILTINS = {"eval", "exec", "compile", "__import__"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw_is_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def unsafe_calls(source: str, filename: str = "<source>") -> list[str]:
    """`file:line: what` for every unsafe call in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            parts = tuple(name.rsplit(".", 1)) if "." in name else ("", name)
            where = f"{filename}:{node.lineno}"
            if parts in _UNSAFE_MODULE_CALLS:
                found.append(f"{where}: {name}(...)")
            elif parts[1] == "load" and parts[0] == "torch" and not _kw_is_true(node, "weights_only"):
                found.append(f"{where}: torch.load without weights_only=True")
            elif parts[1] == "load" and parts[0] in ("np", "numpy") and _kw_is_true(node, "allow_pickle"):
                found.append(f"{where}: np.load(allow_pickle=True)")
            elif isinstance(node.func, ast.Name) and node.func.id in _UNSAFE_BUILTINS:
                found.append(f"{where}: builtin {node.func.id}(...)")
        elif isinstance(node, ast.ClassDef):
            bases = {_dotted(b) for b in node.bases}
            if bases & {"pickle.Unpickler", "Unpickler", "_pickle.Unpickler"}:
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if "find_class" not in methods:
                    found.append(f"{filename}:{node.lineno}: Unpickler subclass {node.name} without find_class")
    return found


def test_package_and_app_never_run_code_from_files():
    assert len(SOURCES) > 20
    problems = [p for path in SOURCES for p in unsafe_calls(path.read_text(), str(path.relative_to(ROOT)))]
    assert problems == []


def test_the_search_finds_each_unsafe_form():
    planted = "\n".join([
        "import pickle, torch, numpy as np, yaml",
        "a = pickle.load(f)",
        "b = pickle.loads(data)",
        "c = torch.load(p)",
        "d = torch.load(p, weights_only=False)",
        "e = np.load(p, allow_pickle=True)",
        "f = yaml.load(text)",
        "g = eval(text)",
        "exec(text)",
        "class U(pickle.Unpickler):",
        "    pass",
        # safe forms, not reported:
        "ok1 = torch.load(p, map_location='cpu', weights_only=True)",
        "ok2 = np.load(p, allow_pickle=False)",
        "ok3 = yaml.safe_load(text)",
        "model.eval()",
        "class V(pickle.Unpickler):",
        "    def find_class(self, module, name):",
        "        raise pickle.UnpicklingError(name)",
    ])
    found = unsafe_calls(planted, "x.py")
    assert sorted((f.split(":")[1] for f in found), key=int) == ["2", "3", "4", "5", "6", "7", "8", "9", "10"]
