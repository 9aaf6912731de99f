"""Engine-neutral calling of the declared API: argument binding, option-key
normalisation and turning failures into script errors (see dispatch.py).
The values that cross into scripts live in `llmspell.boundary`."""
