"""Readers and writers: tomograms, picks and projects (no Qt, no torch)."""
