"""``pose.data`` exports its names lazily: each is its module's own object, the three lists in
``__init__`` agree, and the label checks load without torch or imgaug."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import pose.data


def _type_checking_imports() -> set[tuple[str, str]]:
    """(module, name) of each import in ``pose/data/__init__.py``'s ``if TYPE_CHECKING`` block."""
    tree = ast.parse(Path(pose.data.__file__).read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    return {
        (node.module or "", alias.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_the_lists_in_init_agree() -> None:
    imported = _type_checking_imports()
    assert {name for _, name in imported} == set(pose.data.__all__)
    assert imported == {(f"pose.data.{m}", n) for n, m in pose.data._MODULE_OF.items()}


@pytest.mark.parametrize("name", pose.data.__all__)
def test_each_name_is_its_modules_object(name: str) -> None:
    module = importlib.import_module(f"pose.data.{pose.data._MODULE_OF[name]}")
    assert getattr(pose.data, name) is getattr(module, name)
    assert name in dir(pose.data)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'PoseDataModul'"):
        _ = pose.data.PoseDataModul  # type: ignore[attr-defined]


def test_label_checks_import_neither_torch_nor_imgaug() -> None:
    code = (
        "import sys\n"
        "from pose.data import check_data, check_labeled_images, read_labels\n"
        "print(*[m for m in ('torch', 'imgaug', 'lightning') if m in sys.modules])\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == ""
