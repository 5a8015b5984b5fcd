"""Exceptions shared by the core; the QGIS layer maps them to QgsProcessingException."""


class EcorespError(Exception):
    """Base class of every error the core raises on purpose."""


class InputError(EcorespError):
    """Bad input: the message names the file, column, band or layer and what is wrong."""


class OutputError(EcorespError):
    """An output cannot be written (missing or read-only folder, full disk, output equal to an
    input): the message names the file and what is wrong."""


class Cancelled(EcorespError):
    """The user cancelled a long computation (raised by the progress/cancel hook)."""
