"""The picker model: networks, training, inference and peaks.

Submodules import torch and monai inside their functions, so importing
this package (or its settings dataclasses) stays cheap.
"""
