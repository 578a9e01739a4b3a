"""Every Plotly figure of the app, one module per topic; the rest of vizcore draws nothing.

- ``style``: the app's one template (projector sizes, :func:`~vizcore.figures.style.for_presenter`),
  colour scales and ranges (``ColourRange``, ``colourise``), and the shared builders (heatmap,
  image, layout).
- ``playground``: the Kernel Playground (maps and responses, kernels, the padded input as a
  grid of numbers, the output matrix, the 1D signal).
- ``shapes``: the Shape Calculator (kernel positions over the padded input, parameters per layer).
- ``pooling``: the pooling page (windows and max winners, output, translation, receptive fields).
- ``features``: looking inside a CNN (network overview, channel grids, filters, patches).
- ``training``: learning curves, confusion matrix, misclassified pictures.
- ``perturbation``: occlusion's maps and player, LIME's four steps.
- ``scores``: the Explanation scores page (score and time bars, deletion/insertion curves).
- ``saliency``: explanation maps over the picture, side by side, the sanity check, a map as PNG.

Import the module you need (``from vizcore.figures import style``): this package imports none
of them, so a page loads only its own figures.
"""
