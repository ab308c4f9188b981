"""The deck plan of the slides: which idea goes on which frame, and how it is built up.

Part of the slides (derivation -> notes' document model -> **deck** -> slides writer,
:mod:`symgrad.render.slides`). :mod:`~symgrad.render.deck.frames` holds the frames and the builds
(overlays), :mod:`~symgrad.render.deck.plan` cuts the notes' sections into frames, and
:mod:`~symgrad.render.deck.example` makes the worked example's frames: the graph whose numbers
appear forward and whose gradients appear backward, then the gradient matrices.
"""

from symgrad.render.deck.example import example_frames
from symgrad.render.deck.plan import section_frames

__all__ = ["example_frames", "section_frames"]
