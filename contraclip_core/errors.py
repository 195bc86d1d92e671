"""Exceptions with messages a user can act on. Every loader error is a ``ContraCLIPError``."""
from __future__ import annotations


class ContraCLIPError(Exception):
    """Base class: the message is meant to be shown to a user as is."""


class UnknownNameError(ContraCLIPError, KeyError):
    """A registry name that does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class HubUnavailableError(ContraCLIPError):
    """A file that must come from the Hugging Face Hub is neither cached nor downloadable."""


class WeightsError(ContraCLIPError):
    """A weights file that is unsafe, corrupted, truncated, or does not fit its config."""


class RecordError(ContraCLIPError):
    """A record read from disk (a job, a path-set description) that does not have the shape it must have."""


class DataDirError(ContraCLIPError):
    """The data folder cannot be used: a file where a folder should be, not writable, or in use by another app."""


class FaceError(ContraCLIPError, ValueError):
    """A picture that cannot be face-aligned: not an image array, too small or too large, or the face model is
    missing."""


class NoFaceError(FaceError):
    """A picture in which the face detector finds no face."""
