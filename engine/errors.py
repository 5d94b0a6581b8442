"""Typed errors the engine raises. Each message is written for the user to read."""


class ConvScopeError(Exception):
    """Base class: the GUI shows str(error) in a message box, never a traceback."""

    title = "ConvScope"


class SpecError(ConvScopeError):
    """An impossible or malformed network architecture."""

    title = "Impossible architecture"

    def __init__(self, message: str, layer_index: int | None = None):
        super().__init__(message)
        self.layer_index = layer_index


class DataError(ConvScopeError):
    """A dataset, folder or image that cannot be used."""

    title = "Data problem"


class CheckpointError(ConvScopeError):
    """A checkpoint that is corrupt, truncated, foreign or unsafe."""

    title = "Checkpoint problem"


class DivergedError(ConvScopeError):
    """Training produced a NaN or infinite loss."""

    title = "Training diverged"


class ModelError(ConvScopeError):
    """A pretrained model that is unavailable offline or cannot be loaded."""

    title = "Model problem"


class JobCancelled(ConvScopeError):
    """Raised inside a job when the user stops it; not an error to show."""

    title = "Stopped"
