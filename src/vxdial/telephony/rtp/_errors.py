"""The errors of the media layer."""

from __future__ import annotations

from vxdial.domain import errors

__all__ = ["AudioError", "MediaError"]


class MediaError(errors.VxdialError):
    """The media layer cannot do what was asked: no free RTP port, a closed session."""


class AudioError(MediaError):
    """An audio file (``<audio src>``) cannot be played: the message names the URL and
    what is wrong with it."""
