"""Partitioning methods: the interface (:mod:`.base`) and one module per method family.

Every module of this package is imported on first use of the registry and registers its methods
with :func:`~.base.register`; adding a method is adding a module (see :mod:`.base`).
"""

from .base import (WINDOW_COLUMNS, FitWindows, MethodContext, MethodResult, PartitionMethod, get, methods,
                   register, run_order, unregister)

__all__ = ["WINDOW_COLUMNS", "FitWindows", "MethodContext", "MethodResult", "PartitionMethod", "get", "methods",
           "register", "run_order", "unregister"]
