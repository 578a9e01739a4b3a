"""The Explanation scores page through AppTest: its table equals vizcore computed directly; its figures."""
import functools

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from streamlit.testing.v1 import AppTest

from vizcore import data, models
from vizcore.figures import scores as score_figs
from vizcore.explain import evaluate as ev
from vizcore.explain import scores

PAGE = "../pages/explanation_scores.py"
FAST = {"es_n": 4, "es_sg": 3, "es_ig": 4, "es_lime": 20}
STEPS = 8


def run_small(at):
    for key, value in FAST.items():
        at.number_input(key=key).set_value(value)
    at.select_slider(key="es_steps").set_value(STEPS)
    at.run()
    assert not at.exception, at.exception
    if any(b.key == "es_run" for b in at.button):  # else another session's run is shared
        at.button(key="es_run").click().run()
    assert not at.exception, at.exception
    return at


def direct(at, dataset, target="predicted"):
    """The same evaluation straight from vizcore (computed once per setting)."""
    return _direct(at.selectbox(key="es_model").value.split(" (")[0], dataset, target)


@functools.lru_cache(maxsize=4)
def _direct(name, dataset, target):
    model, meta = models.load_pretrained(name)
    split = data.load_dataset(dataset, "test")
    methods = ev.default_methods(model, meta["input_shape"], meta["mean"], meta["std"],
                                 smoothgrad_samples=FAST["es_sg"], ig_steps=FAST["es_ig"], lime_samples=FAST["es_lime"])
    return ev.evaluate(model, split, FAST["es_n"], methods=methods, steps=STEPS, target=target, normalise_as=meta)


def decode(values):
    """A Plotly array as numbers (Plotly 6 sends typed arrays as base64)."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        return np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"]).reshape(values.get("shape", -1))
    return np.asarray(values, dtype=float)


def test_page_starts_with_nothing_computed(at):
    assert not at.dataframe
    assert at.button(key="es_run").label == "Run"
    model = at.selectbox(key="es_model").value
    assert model.startswith("scenes" if "scenes" in models.shipped_models() else "shapes")
    options = at.selectbox(key="es_dataset").options
    assert [o.split(" ")[0] for o in options] == ["scenes", "shortcut", "shortcut_shuffled", "shapes"]


def test_table_equals_vizcore(at):
    run_small(at)
    dataset = at.selectbox(key="es_dataset").value
    result = direct(at, dataset)
    tolerance = at.slider(key="es_tolerance").value
    expected = {row["method"]: row for row in ev.score_table(result, tolerance)}
    table = at.dataframe[0].value
    assert list(table["method"]) == result.names
    for _, row in table.iterrows():
        want = expected[row["method"]]
        assert row["kind"] == want["kind"]
        for column in ("pointing game", "relevance mass", "relevance rank", "deletion AUC", "insertion AUC"):
            assert row[column] == pytest.approx(want[column], rel=1e-4, abs=1e-6), (row["method"], column)
        assert row["ms / image"] > 0
    # A new tolerance rescores the kept maps: no new run, the pointing game follows.
    at.slider(key="es_tolerance").set_value(0.0).run()
    assert not at.exception
    table = at.dataframe[0].value
    exact = {row["method"]: row["pointing game"] for row in ev.score_table(result, 0.0)}
    assert dict(zip(table["method"], table["pointing game"])) == pytest.approx(exact)
    # The words above the table name the accuracy and the slowest method.
    summary = next(m.value for m in at.markdown if "test images" in m.value and "accuracy" in m.value)
    assert f"accuracy on them **{result.accuracy:.1%}**" in summary
    slowest = summary.split("; **")[1].split("**")[0]
    assert slowest in result.names[:-3]  # a method, never a reference map


def test_gallery_counts_hits_and_the_curves_show_one_image(at):
    run_small(at)
    dataset = at.selectbox(key="es_dataset").value
    result = direct(at, dataset)
    at.selectbox(key="es_gallery_method").set_value("Edges (Sobel)").run()
    tolerance = at.slider(key="es_tolerance").value
    hits = scores.pointing_game(result.maps["Edges (Sobel)"], result.masks, tolerance)
    line = next(m.value for m in at.markdown if m.value.startswith("**Edges (Sobel)**"))
    assert f"{int(hits.sum())} hits, {int((~hits).sum())} misses of {FAST['es_n']} images" in line
    at.slider(key="es_image").set_value(3).run()
    assert not at.exception
    import json

    curve = json.loads(next(c.proto.spec for c in at.get("plotly_chart") if "pixels removed" in c.proto.spec))
    assert len(curve["data"]) == 2 * len(result.names)
    by_name = {(t["name"], t["xaxis"]): t for t in curve["data"]}
    for name in ("Gradient", "Random"):
        np.testing.assert_allclose(decode(by_name[(name, "x")]["y"]), result.deletion[name][3], rtol=1e-4)
        np.testing.assert_allclose(decode(by_name[(name, "x2")]["y"]), result.insertion[name][3], rtol=1e-4)


def test_a_finished_table_is_shared_with_every_session(at):
    run_small(at)
    other = AppTest.from_file(PAGE, default_timeout=60)
    other.run()
    for key, value in FAST.items():
        other.number_input(key=key).set_value(value)
    other.select_slider(key="es_steps").set_value(STEPS)
    other.run()
    assert not any(b.key == "es_run" for b in other.button)  # nothing to run: the table is there
    assert other.dataframe[0].value.equals(at.dataframe[0].value)


@pytest.mark.skipif(not {"shortcut", "scenes"} <= set(models.shipped_models()),
                    reason="the shipped shortcut and scenes models are not in assets/ yet")
def test_shortcut_story_accuracies_and_tag_table(at):
    cheat, cheat_meta = models.load_pretrained("shortcut")
    for key in ("es_sg", "es_ig", "es_lime"):  # the settings are shared by both views
        at.number_input(key=key).set_value(FAST[key])
    at.radio(key="es_view").set_value("The shortcut lesson: wolf or husky?").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    for dataset, label in (("shortcut", "shortcut model on shortcut"), ("shortcut_shuffled", "… on shortcut_shuffled")):
        split = data.load_dataset(dataset, "test")
        x = (split.images.float() / 255 - torch.tensor(cheat_meta["mean"])[:, None, None]) \
            / torch.tensor(cheat_meta["std"])[:, None, None]
        with torch.no_grad():
            accuracy = (cheat(x).argmax(1) == split.labels).float().mean().item()
        assert metrics[label] == f"{accuracy:.1%}"
    at.number_input(key="story_n").set_value(5).run()
    at.button(key="story_cheat_run").click().run()
    assert not at.exception, at.exception
    split = data.load_dataset("shortcut", "test")
    methods = ev.default_methods(cheat, cheat_meta["input_shape"], cheat_meta["mean"], cheat_meta["std"],
                                 smoothgrad_samples=FAST["es_sg"], ig_steps=FAST["es_ig"], lime_samples=FAST["es_lime"])
    result = ev.evaluate(cheat, split, 5, methods=methods, curves=False, normalise_as=cheat_meta)
    expected = ev.cue_table(result, round(scores.scaled_tolerance(64), 1))
    shown = next(d.value for d in at.dataframe if "points at the tag" in d.value.columns)
    assert list(shown["method"]) == [r["method"] for r in expected]
    for (_, row), want in zip(shown.iterrows(), expected):
        assert row["points at the tag"] == pytest.approx(want["points at the tag"])
        assert row["points at the object"] == pytest.approx(want["points at the object"])
    # The sentence under the chart counts the methods that point at the tag.
    most = [r["method"] for r in expected if r["kind"] == "method" and r["points at the tag"] > 0.5]
    assert any(f"**{len(most)} of 8 methods** point at the corner tag" in m.value for m in at.markdown)


# --- figures --------------------------------------------------------------------------------------

ROWS = [
    {"method": "Gradient", "kind": "method", "pointing game": 0.6, "deletion AUC": 0.2, "ms / image": 3.0},
    {"method": "LIME", "kind": "method", "pointing game": 0.8, "deletion AUC": 0.1, "ms / image": 200.0},
    {"method": "Random", "kind": "reference", "pointing game": 0.1, "deletion AUC": 0.4, "ms / image": 0.1},
    {"method": "Edges (Sobel)", "kind": "reference", "pointing game": 0.5, "deletion AUC": 0.3, "ms / image": 0.1},
]


def valid(fig: go.Figure) -> dict:
    return go.Figure(fig.to_dict()).to_dict()  # Plotly's own validation of every property


def test_score_bars_sort_best_first_and_mark_the_edge_detector():
    spec = valid(score_figs.score_bars(ROWS, "pointing game"))
    (bars,) = spec["data"]
    assert list(bars["y"])[::-1] == ["LIME", "Gradient", "Edges (Sobel)", "Random"]  # drawn bottom-up
    assert list(bars["marker"]["color"])[::-1] == [score_figs.METHOD_COLOUR] * 2 + [score_figs.REFERENCE_COLOUR] * 2
    (line,) = spec["layout"]["shapes"]
    assert line["x0"] == line["x1"] == 0.5
    low = valid(score_figs.score_bars(ROWS, "deletion AUC"))["data"][0]
    assert list(low["y"])[::-1] == ["LIME", "Gradient", "Edges (Sobel)", "Random"]  # lower is better


def test_time_bars_and_curves_and_cue_bars_validate():
    spec = valid(score_figs.time_bars({"Gradient": 0.3, "LIME": 20.0}, 100))
    assert list(spec["data"][0]["y"]) == ["Gradient", "LIME"]
    assert spec["data"][0]["x"][1] == pytest.approx(20 / 20.3)
    fr = np.linspace(0, 1, 5)
    spec = valid(score_figs.curves(fr, {"Gradient": fr[::-1], "Random": fr * 0 + 0.5},
                                    {"Gradient": fr, "Random": fr * 0 + 0.5}, ["Random"]))
    assert len(spec["data"]) == 4
    assert spec["data"][2]["line"]["dash"] == "dot"
    rows = [{"method": "Gradient", "points at the tag": 0.9, "points at the object": 0.1}]
    spec = valid(score_figs.cue_bars(rows))
    assert [t["name"] for t in spec["data"]] == ["points at the tag", "points at the object"]
    valid(score_figs.accuracy_bars({"a": 0.99, "b": 0.2}))


@pytest.mark.parametrize("hit", [True, False])
def test_marked_picture_puts_the_cross_on_the_first_peak(hit):
    picture = np.full((8, 8, 3), 100, np.uint8)
    heat = np.zeros((8, 8))
    heat[2, 5] = heat[6, 1] = 1.0  # a tie: the first in row-major order is (2, 5)
    mask = np.zeros((8, 8), bool)
    mask[5:8, 0:3] = True
    out = score_figs.marked_picture(picture, heat, mask, hit=hit, scale=3)
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8
    colour = score_figs.HIT if hit else score_figs.MISS
    assert tuple(out[2 * 3 + 1, 5 * 3 + 1]) == colour
    assert tuple(out[5 * 3, 0]) == score_figs.OUTLINE  # the object's outline
    assert tuple(out[6 * 3 + 1, 1 * 3 + 1]) != colour  # the later, equal peak gets no cross
