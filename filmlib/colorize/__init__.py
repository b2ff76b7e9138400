"""Colour: DeOldify inference, reference (exemplar) colourisation, chroma stabilisation and the colour-flicker
metric. Import the submodules directly (``from .colorize.transfer import ...``); nothing heavy loads here."""
