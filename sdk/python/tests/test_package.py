"""pyproject.toml agrees with the package: version, Python floor, no dependencies, typed."""

from __future__ import annotations

import tomllib
import unittest
from pathlib import Path

import mailgent

ROOT = Path(__file__).resolve().parent.parent


class PackageTest(unittest.TestCase):
    def test_pyproject_matches_the_package(self) -> None:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        self.assertEqual(project["name"], "mailgent")
        self.assertEqual(project["version"], mailgent.__version__)
        self.assertEqual(project["requires-python"], ">=3.11")
        self.assertEqual(project["dependencies"], [])
        self.assertTrue((ROOT / "src" / "mailgent" / "py.typed").exists())

    def test_everything_exported_exists(self) -> None:
        for name in mailgent.__all__:
            with self.subTest(name):
                self.assertTrue(hasattr(mailgent, name))


if __name__ == "__main__":
    unittest.main()
