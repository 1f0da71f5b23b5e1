"""Packaging: manifest, entry points, and a core free of Qt and torch."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib import import_module
from importlib.metadata import packages_distributions

import pytest
import yaml

from tests.conftest import REPO

MANIFEST = yaml.safe_load((REPO / 'napari.yaml').read_text())
COMMANDS = MANIFEST['contributions']['commands']


@pytest.mark.parametrize('command', COMMANDS, ids=lambda c: c['id'])
def test_every_manifest_command_imports(command):
    module, name = command['python_name'].split(':')
    assert callable(getattr(import_module(module), name))


def test_manifest_is_installed_with_the_package():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution('napari-cryopick')
    assert manifest.name == 'napari-cryopick'
    ids = {c.id for c in manifest.contributions.commands}
    assert ids == {c['id'] for c in COMMANDS}


def test_core_imports_without_qt_torch_monai():
    # Every module outside _qt (the viewer model included): the import
    # graph has _qt on top and nothing under it imports Qt.
    code = (
        'import pkgutil, sys\n'
        'import napari_cryopick\n'
        'names = [m.name for m in pkgutil.walk_packages('
        'napari_cryopick.__path__, "napari_cryopick.")]\n'
        'core = [n for n in names if "._qt" not in n '
        'and not n.endswith("__main__")]\n'
        'assert "napari_cryopick.viewer.state" in core, names\n'
        'for name in core:\n'
        '    __import__(name)\n'
        'bad = [m for m in ("torch", "monai", "qtpy", "PyQt6", "PyQt5", '
        '"PySide6", "superqt") if m in sys.modules]\n'
        'print(",".join(bad))\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ''


def _imported_top_modules() -> set[str]:
    found = set()
    for path in (REPO / 'src' / 'napari_cryopick').rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.Import):
                found.update(a.name.split('.')[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found.add(node.module.split('.')[0])
    return found - set(sys.stdlib_module_names) - {'napari_cryopick'}


def _canonical(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def test_every_imported_package_is_a_declared_dependency():
    project = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']
    declared = {
        _canonical(re.split(r'[\s<>=!~;\[]', spec, maxsplit=1)[0])
        for spec in project['dependencies']
    }
    distributions = packages_distributions()
    missing = {
        module: distributions.get(module, [module])
        for module in _imported_top_modules()
        if not {_canonical(d) for d in distributions.get(module, [module])}
        & declared
    }
    assert not missing, f'imported but not in pyproject: {missing}'


#: Qt, reached directly or through napari's and our own Qt code.
QT_MODULES = ('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'superqt')
QT_PACKAGES = ('napari._qt', 'napari.qt', 'napari_cryopick._qt')


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.module


def test_nothing_under_qt_imports_qt():
    # The import graph has _qt on top: no other module imports Qt or
    # _qt, at module level or inside a function (the import test above
    # only sees what importing a module loads).
    package = REPO / 'src' / 'napari_cryopick'
    found = []
    for path in package.rglob('*.py'):
        if '_qt' in path.relative_to(package).parts:
            continue
        for name in _imports(path):
            if name.split('.')[0] in QT_MODULES or any(
                name == p or name.startswith(f'{p}.') for p in QT_PACKAGES
            ):
                found.append(f'{path.relative_to(package)}: {name}')
    assert found == []
