"""The command line loads what it runs (issue 17): ``losskit list`` imports no heavy
command, a command whose import is broken fails alone, and the libraries have no click."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("click")

SRC = Path(__file__).resolve().parents[2] / "src" / "losskit"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_list_imports_no_other_command():
    code = ("import sys, losskit.cli\n"
            "try:\n    losskit.cli.main(['list'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('MODULES', ' '.join(sorted(sys.modules)))")
    result = _python(code)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split("MODULES", 1)[1].split()
    heavy = ("losskit.bench", "losskit.compare", "losskit.recommend", "losskit.testing", "rich", "torch")
    assert [m for m in loaded if m.split(".")[0] in heavy or m.startswith(heavy)] == []
    assert "losskit.cli.losses" in loaded


def test_help_lists_every_command_without_importing_them():
    code = ("import sys, losskit.cli\n"
            "try:\n    losskit.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('MODULES', ' '.join(m for m in sys.modules if m.startswith('losskit.cli.')))")
    result = _python(code)
    assert result.returncode == 0, result.stderr
    from losskit.cli import COMMANDS

    for name in COMMANDS:
        assert f"\n  {name} " in result.stdout
    assert result.stdout.split("MODULES", 1)[1].split() == []


@pytest.mark.parametrize("poisoned", ["losskit.bench", "rich"])
def test_a_broken_optional_import_breaks_only_its_command(poisoned):
    # sys.modules[name] = None makes `import name` raise ImportError, as a missing or broken install does
    code = (f"import sys\nsys.modules[{poisoned!r}] = None\nimport losskit.cli\n"
            "for args in (['list'], ['bench', '--list']):\n"
            "    try:\n        losskit.cli.main(args)\n    except SystemExit as e:\n"
            "        print('EXIT', args[0], e.code)\n")
    result = _python(code)
    assert "EXIT list 0" in result.stdout, result.stdout + result.stderr
    assert "EXIT bench 2" in result.stdout, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: losskit bench must have its modules importable"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("package", ["compare", "recommend"])
def test_the_libraries_do_not_import_click(package):
    importers = []
    for file in sorted((SRC / package).rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "click" or n.startswith("click.") for n in names):
                importers.append(f"{file.relative_to(SRC)}:{node.lineno}")
    assert importers == []


def test_every_command_module_imports_and_names_its_command():
    import importlib

    from losskit.cli import COMMANDS

    for name, (module, attribute, _) in COMMANDS.items():
        if module == "bench":
            pytest.importorskip("torch")
        command = getattr(importlib.import_module(f"losskit.cli.{module}"), attribute)
        assert command.name == name


def test_one_name_value_reader_for_every_loss_parameter():
    from losskit.compare.config import parse_assignment, parse_losses

    assert parse_assignment("mode=binary", "NAME=VALUE", ValueError) == ("mode", "binary")
    assert parse_assignment("w=[1, 4]", "NAME=VALUE", ValueError) == ("w", [1, 4])
    assert parse_assignment("on=True", "NAME=VALUE", ValueError) == ("on", True)
    for bad in ("delta", "2x=1", "=1"):
        with pytest.raises(ValueError, match="NAME=VALUE"):
            parse_assignment(bad, "NAME=VALUE", lambda e, r: ValueError(f"must be {e}; received {r}"))
    assert parse_losses("huber(delta=2), mae")[0].params == {"delta": 2}
    with pytest.raises(ValueError, match="a Python literal for 'delta'"):
        parse_losses("huber(delta=[1,)")
