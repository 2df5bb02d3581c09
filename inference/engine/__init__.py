"""The model engine: the manager, device backends, specs and loaders.

Plain Python with no Django app behind it (an import contract says so): what it needs
from the database arrives through the spec source and the state sink it is given.
"""
