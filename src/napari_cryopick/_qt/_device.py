"""The device choice of the Pick and Fine-tune widgets (auto, CPU, GPU)."""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox

from napari_cryopick.model.device import CHOICES

_TIPS = {
    'auto': 'The first CUDA GPU when torch sees one, else the CPU.',
    'cpu': 'The CPU, even where a GPU is present.',
    'cuda': 'The first CUDA GPU; an error says why where there is none.',
}


class DeviceChoice(QComboBox):
    """``auto``, ``cpu`` or ``cuda``, as ``--device`` on the command line.

    Torch is not asked here (importing it on the GUI thread would freeze
    the window): an unusable choice fails the job with the same one-line
    reason as the command line's.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        for index, name in enumerate(CHOICES):
            self.addItem(name)
            self.setItemData(index, _TIPS[name], 3)  # Qt.ToolTipRole
        self.setToolTip('Where the network runs (--device)')

    def value(self) -> str:
        """Return the chosen device name."""
        return self.currentText()
