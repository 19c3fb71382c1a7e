"""Shared code for the FER2013 report: data, models, training, analysis, report building.

The notebooks stay thin and import from here; everything here is unit-tested in tests/.
"""
