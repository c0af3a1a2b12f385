"""What the tutorials use on top of the library: figures, ipywidgets, and the tools that store and hand them out.

:mod:`~mink_toolkit.notebook.plotting` draws rain fields with a
precipitation colormap and km axes; :mod:`~mink_toolkit.notebook.widgets`
holds the explorers the notebooks show (excursion sets, soft thresholds,
archive frames, super-resolution cases). :mod:`~mink_toolkit.notebook.execute`
runs the tutorials and stores them with outputs and widget state (``make
notebooks``); :mod:`~mink_toolkit.notebook.workshop` defines the
exercise/solution cell tags and writes student and instructor copies
(``python -m mink_toolkit workshop``); :mod:`~mink_toolkit.notebook.solutions`
is the IPython extension behind the ``%%solution`` cells, which Run All does
not reveal. Nothing in the core library imports
this package.
"""
