"""Page building blocks written once, one module per concern (not a page: the leading underscore
keeps it out of navigation). A page imports from the modules it uses, so its imports say what it is
made of; this file re-exports nothing.

- ``picture``: a picture from the user (sample, upload, camera), decoded at the working size.
- ``model_input``: what a model is fed (test image, photo, drawing), its preprocessing steps and
  link fields, and what the model knows about such a picture.
- ``models``: the model selector, the model and picture carried from page to page, start values.
- ``classes``: the explained class (by name or the predicted one) and the class probabilities.
- ``runs``: long runs (Run and Stop), exact cache keys, the argument and computation logs.
- ``links``: a page's settings in its address, the shared parameters, the "Copy link" box.
- ``text``: user-supplied text shown literally, explanations hidden while presenting.
- ``presenter``: the app's CSS and the Presenter switch.
- ``figures``: a Plotly figure with its PNG button, array downloads, Plotly warmed up early.
- ``state``: widget values kept across views and pages, or reset when no longer offered.
- ``page``: the frame around a page: ``stop_page`` and the error boundary.

Imports go one way, from the bottom up: state, presenter, runs, page → text → links → figures,
picture → models → model_input → classes. One call goes back: ``page.stop_page`` imports
``links.write_link_state`` when it runs (links reads the frame's place from ``page``).
"""
