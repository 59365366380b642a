"""The size guard `make lint` runs: long functions and modules are named, exemptions expire."""

from __future__ import annotations

from pathlib import Path

from tools.sizes import MAX_FUNCTION_LINES, MAX_MODULE_LINES, problems


def function(name: str, lines: int) -> str:
    return f"def {name}() -> None:\n" + "    pass\n" * (lines - 1)


def test_a_function_over_the_limit_is_named_with_its_place(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "ok.py").write_text(function("fits", MAX_FUNCTION_LINES))
    (pkg / "long.py").write_text(
        "x = 1\n" + function("fits", 3) + function("sprawls", MAX_FUNCTION_LINES + 1)
    )
    assert problems([pkg], {}) == [
        f"{pkg / 'long.py'}:5: function sprawls is {MAX_FUNCTION_LINES + 1} lines"
        f" (at most {MAX_FUNCTION_LINES})"
    ]


def test_methods_and_nested_functions_count_too(tmp_path: Path) -> None:
    body = function("inner", MAX_FUNCTION_LINES + 5).replace("\n", "\n        ")
    (tmp_path / "m.py").write_text(f"class C:\n    def outer(self) -> None:\n        {body}\n")
    found = problems([tmp_path], {})
    assert [line.split(": ")[1].split(" is ")[0] for line in found] == [
        "function outer",
        "function inner",
    ]


def test_a_module_over_the_limit_is_named(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "fine.py").write_text("x = 1\n" * MAX_MODULE_LINES)
    assert problems([tmp_path], {}) == [
        f"{tmp_path / 'big.py'}: {MAX_MODULE_LINES + 1} lines (at most {MAX_MODULE_LINES})"
    ]


def test_a_known_offender_passes_until_it_is_fixed_then_its_exemption_must_go(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.py"
    path.write_text(function("sprawls", MAX_FUNCTION_LINES + 1))
    known = {f"{path.as_posix()}:sprawls": "being reworked"}
    assert problems([tmp_path], known) == []
    path.write_text(function("sprawls", MAX_FUNCTION_LINES))
    assert problems([tmp_path], known) == [
        f"{path.as_posix()}:sprawls: no longer too long; remove it from KNOWN in tools/sizes.py"
    ]


def test_the_package_keeps_to_the_limits() -> None:
    from tools.sizes import KNOWN

    package = Path(__file__).parents[2] / "mlops_gitops"
    root = package.parent
    known = {str(root / key): why for key, why in KNOWN.items()}
    assert problems([package], known) == []
