"""Packaging: manifest, entry points, and a core free of Qt and torch."""

import subprocess
import sys
from importlib import import_module

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
    code = (
        'import sys\n'
        'import napari_cryopick, napari_cryopick._reader, '
        'napari_cryopick._writer, napari_cryopick.metric, '
        'napari_cryopick.io.sources, napari_cryopick.cli, '
        'napari_cryopick.simulate.project\n'
        'bad = [m for m in ("torch", "monai", "qtpy", "PyQt6", "PyQt5", '
        '"PySide6") if m in sys.modules]\n'
        'print(",".join(bad))\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ''
