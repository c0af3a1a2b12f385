"""What the tutorials use on top of the library: figures and ipywidgets.

:mod:`~mink_toolkit.notebook.plotting` draws rain fields with a
precipitation colormap and km axes; :mod:`~mink_toolkit.notebook.widgets`
holds the explorers the notebooks show (excursion sets, soft thresholds,
archive frames, super-resolution cases). Nothing in the core library imports
this package.
"""
