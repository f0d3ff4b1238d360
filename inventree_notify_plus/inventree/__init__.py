"""The InvenTree edge: everything that reads InvenTree's models and settings or is called by it.

InvenTree's own modules are imported inside functions, so that the rest of the package (and
these modules' pure rules) load without an InvenTree. The map of the modules: the package
docstring.
"""
