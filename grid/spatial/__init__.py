"""Boundary files, coordinate systems and the locator."""
