"""The package as it is built: the in-tree backend's wheel and sdist, its metadata, its typing
marker, and source that Python 3.9 accepts."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import tarfile
import tempfile
import unittest
import zipfile

import keygate_verify
from support import PACKAGE_DIR

SRC = os.path.join(PACKAGE_DIR, "src", "keygate_verify")


def backend():
    spec = importlib.util.spec_from_file_location("_keygate_build", os.path.join(PACKAGE_DIR, "_build", "_keygate_build.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Packaging(unittest.TestCase):
    def test_metadata_agrees_with_the_code(self):
        b = backend()
        project = b._project()
        self.assertEqual(project["name"], "keygate-verify")
        self.assertEqual(project["version"], keygate_verify.__version__)
        self.assertEqual(project["requires-python"], ">=3.9")
        with open(os.path.join(PACKAGE_DIR, "pyproject.toml"), encoding="utf-8") as f:
            text = f.read()
        # The reader for Pythons without tomllib reads this file as tomllib does.
        subset = b._parse_toml_subset(text)
        if sys.version_info >= (3, 11):
            import tomllib

            self.assertEqual(subset, tomllib.loads(text))
        self.assertEqual(subset["build-system"]["requires"], [])

    def test_wheel_and_sdist(self):
        b = backend()
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(b.get_requires_for_build_wheel(), [])
            wheel = b.build_wheel(tmp)
            self.assertEqual(wheel, f"keygate_verify-{keygate_verify.__version__}-py3-none-any.whl")
            with zipfile.ZipFile(os.path.join(tmp, wheel)) as zf:
                names = set(zf.namelist())
                dist = f"keygate_verify-{keygate_verify.__version__}.dist-info"
                for module in ("__init__.py", "_core.py", "_http.py", "wsgi.py", "asgi.py", "py.typed"):
                    self.assertIn(f"keygate_verify/{module}", names)
                self.assertFalse([n for n in names if "__pycache__" in n or n.endswith(".pyc")])
                record = zf.read(f"{dist}/RECORD").decode()
                self.assertEqual(len(record.splitlines()), len(names))
                metadata = zf.read(f"{dist}/METADATA").decode()
                self.assertIn("Name: keygate-verify\n", metadata)
                self.assertIn("Requires-Python: >=3.9\n", metadata)
                self.assertIn("# keygate-verify", metadata)  # the README as the description
            sdist = b.build_sdist(tmp)
            with tarfile.open(os.path.join(tmp, sdist)) as tf:
                names = set(tf.getnames())
            base = f"keygate_verify-{keygate_verify.__version__}"
            for rel in ("PKG-INFO", "pyproject.toml", "README.md", "_build/_keygate_build.py", "src/keygate_verify/py.typed", "examples/echo_origin.py"):
                self.assertIn(f"{base}/{rel}", names)

    def test_typed_and_python_3_9_source(self):
        self.assertTrue(os.path.isfile(os.path.join(SRC, "py.typed")))
        files = [os.path.join(SRC, n) for n in os.listdir(SRC) if n.endswith(".py")]
        files.append(os.path.join(PACKAGE_DIR, "examples", "echo_origin.py"))
        for path in files:
            with self.subTest(os.path.basename(path)):
                with open(path, encoding="utf-8") as f:
                    source = f.read()
                tree = ast.parse(source, feature_version=(3, 9))
                self.assertIn("from __future__ import annotations", source)
                for node in ast.walk(tree):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("__"):
                        self.assertIsNotNone(node.returns, f"{node.name} has no return annotation")
                        for arg in node.args.args + node.args.kwonlyargs:
                            if arg.arg not in ("self", "cls"):
                                self.assertIsNotNone(arg.annotation, f"{node.name}({arg.arg}) is not annotated")


if __name__ == "__main__":
    unittest.main()
