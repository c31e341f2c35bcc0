"""Channels: what the view shows of a multichannel mixture, and which channels an edit changes.

A document on a mixture of several channels keeps one mask per channel in every layer (the
store's ``lead`` is ``(C,)``; a mono document's is ``()``), whether the layer was painted,
loaded or computed: an oracle of a stereo recording is computed channel by channel, as nussl
and a direct computation do.  A state saved with masks shared by the channels (a project or
a journal of an older version, a shared oracle) is widened on load: each channel gets the
shared mask, so nothing a user saved fails to open.

The view shows one of:

``"mid"``    the mean of the channels (the default);
``"side"``   half the difference of the first two channels, ``(L - R) / 2`` (stereo only);
``c``        channel ``c`` (0-based).

An edit changes every channel (the channels are linked, the default, or the view shows the
mid or the side), or only the channel on view when the link is off; either way the partition
of unity holds in each channel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from maskstudio.editing.edits import edit_layer
from maskstudio.editing.state import DocumentState
from maskstudio.editing.tiles import widen_tile
from maskstudio.errors import ParameterError

__all__ = ["VIEWS", "lead_for", "check_channel", "view_signal", "edit_channel",
           "edit_channels", "channel_plane", "widen_state", "describe_channel"]

#: The views that are not one channel.
VIEWS = ("mid", "side")


def lead_for(n_channels: int) -> tuple:
    """The lead shape of a document's masks: ``(C,)`` for several channels, ``()`` for one."""
    return (int(n_channels),) if n_channels > 1 else ()


def check_channel(channel, n_channels: int):
    """``channel`` if the view can show it on a mixture of ``n_channels``, else a
    :class:`~maskstudio.errors.ParameterError` that says what there is."""
    if channel == "mid":
        return channel
    if channel == "side":
        if n_channels != 2:
            raise ParameterError(f"the side view needs a stereo file, and this one has "
                                 f"{n_channels} channel(s): show the mid or one channel")
        return channel
    if isinstance(channel, str) and not channel.isdigit():
        raise ParameterError(f"there is no view {channel!r}: choose mid, side or a channel")
    if not 0 <= int(channel) < n_channels:
        raise ParameterError(f"there is no channel {int(channel) + 1}: the file has "
                             f"{n_channels}")
    return int(channel)


def describe_channel(channel) -> str:
    """How the status line names a view: ``mid``, ``side``, ``channel 2``."""
    return channel if channel in VIEWS else f"channel {int(channel) + 1}"


def view_signal(x: np.ndarray, channel) -> np.ndarray:
    """The signal a view shows, from samples ``x [C, n]``: float32 ``[n]``."""
    if channel == "mid":
        return x.mean(axis=0, dtype=np.float32)
    if channel == "side":
        if x.shape[0] < 2:
            return np.zeros(x.shape[-1], np.float32)
        side = np.subtract(x[0], x[1], dtype=np.float32)
        side *= np.float32(0.5)
        return side
    return np.ascontiguousarray(x[int(channel)], dtype=np.float32)


def edit_channel(view_channel, lead: tuple, linked: bool) -> int | None:
    """The one channel an edit changes, or None for all of them: a channel on view with the
    link off and per-channel masks."""
    if linked or not lead or view_channel in VIEWS:
        return None
    return int(view_channel)


def edit_channels(old: np.ndarray, k: int, target, alpha: np.ndarray, locked,
                  channel: int | None) -> np.ndarray:
    """:func:`~maskstudio.editing.edits.edit_layer` on values ``old [L, C, h, w]`` for
    channel ``channel`` only (the others are left as they are), or on all of them (None).
    ``target`` is a value, an array ``[h, w]`` or one per channel ``[C, h, w]``."""
    t = np.asarray(target, dtype=np.float32)
    if channel is None:
        if old.ndim == 4 and t.ndim < 3 and _channels_equal(old):
            # every channel holds the same values (painted with the link on, or loaded
            # shared): one channel's edit is every channel's, at half the arithmetic
            one = edit_layer(old[:, 0], k, t, alpha, locked)
            return np.broadcast_to(one[:, None], old.shape)  # read-only: nothing writes it
        return edit_layer(old, k, t, alpha, locked)
    if t.ndim == old.ndim - 1:  # one target per channel: this channel's
        t = t[channel]
    new = np.array(old, dtype=np.float32, copy=True)
    new[:, channel] = edit_layer(old[:, channel], k, t, alpha, locked)
    return new


def _channels_equal(values: np.ndarray) -> bool:
    """Whether every channel of ``values [L, C, h, w]`` holds the first one's values."""
    first = values[:, 0]
    return all(np.array_equal(first, values[:, c]) for c in range(1, values.shape[1]))


def channel_plane(values: np.ndarray, lead: tuple, channel=None) -> np.ndarray:
    """What the overlay draws of values ``lead + [h, w]``: the plane of ``channel`` (an int)
    when the masks are per channel, else their mean over the channels."""
    if not lead:
        return values
    if channel is not None and channel not in VIEWS:
        return values[int(channel)]
    return values.mean(axis=tuple(range(len(lead))))


def widen_state(state: DocumentState, n_channels: int) -> DocumentState:
    """``state`` with per-channel masks for a mixture of ``n_channels``: a state whose masks
    are shared by the channels (saved so, or mono-shaped) gives each channel the shared mask.
    A state that is per channel already, or a mono mixture's, is returned as it is."""
    lead = lead_for(n_channels)
    if state.lead == lead or state.lead:
        return state

    def wide(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(a, lead + a.shape))

    return dataclasses.replace(
        state, lead=lead,
        # a tile is seen on every channel without a copy, until a channel is edited alone
        tiles=[{k: widen_tile(t, lead) for k, t in tiles.items()} for tiles in state.tiles],
        complex_masks={uid: wide(m) for uid, m in state.complex_masks.items()})
