"""``python -m napari_cryopick.cli``: the same as ``cryopick``."""

import sys

from napari_cryopick.cli import main

sys.exit(main())
