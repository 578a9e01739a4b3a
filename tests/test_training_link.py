"""The Training page's address: data set, model, hyperparameters, augmentation and pace go into
the link and come back in every widget; a bad link is refused with a message; a link never trains."""
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from test_page_links import open_link, warnings, written

WIDGETS = ("selectbox", "number_input", "select_slider", "slider", "checkbox", "toggle", "radio")
PACE = "as fast as it can"


def shown(at: AppTest, keys) -> dict:
    """What the widgets with these keys show (every one of them must be on the page)."""
    values = {w.key: w.value for kind in WIDGETS for w in at.get(kind) if w.key in keys}
    assert set(values) == set(keys), set(keys) - set(values)
    return values


def reopened(at: AppTest, keys) -> AppTest:
    """The page opened from ``at``'s own address: the same widgets show the same values."""
    query = written(at)
    again = open_link("training", query)
    assert "not understood" not in warnings(again)
    assert shown(again, keys) == shown(at, keys)
    assert written(again) == query
    return again


def test_defaults_give_an_empty_address_and_a_copy_link_box():
    at = open_link("training", {})
    assert written(at) == {}
    assert at.sidebar.code, "no Copy link box"


def test_every_setting_set_by_hand_comes_back_from_the_link():
    at = open_link("training", {})
    at.selectbox(key="train_data").set_value("shapes").run()
    at.selectbox(key="train_opt_shapes").set_value("sgd").run()  # its own learning-rate slider
    at.toggle(key="train_aug_on_shapes").set_value(True).run()  # the augmentation widgets appear
    chosen = {
        "train_arch_shapes": "scenes", "train_n_shapes": 300, "train_epochs_shapes": 2,
        "train_lr_shapes_sgd": 0.03, "train_batch_shapes": 64, "train_decay_shapes": 1e-4,
        "train_dropout_shapes": 0.25, "train_bn_shapes": True, "train_seed_shapes": 7,
        "train_hflip_shapes": False, "train_vflip_shapes": True, "train_rot_shapes": 30,
        "train_shift_shapes": 0.12, "train_zoom_shapes": 0.2, "train_bright_shapes": 0.3,
        "train_contrast_shapes": 0.1, "train_noise_shapes": 0.05, "train_blur_shapes": 1.5, "train_pace": PACE,
    }
    for key, value in chosen.items():
        next(w for kind in WIDGETS for w in at.get(kind) if w.key == key).set_value(value)
    at.run()
    assert not at.exception
    keys = {"train_data", "train_opt_shapes", "train_aug_on_shapes", *chosen}
    assert shown(at, keys) == {**chosen, "train_data": "shapes", "train_opt_shapes": "sgd",
                               "train_aug_on_shapes": True}
    assert written(at) == {
        "data": "shapes", "arch": "scenes", "n": "300", "epochs": "2", "opt": "sgd", "sgd_lr": "0.03",
        "batch": "64", "decay": "0.0001", "dropout": "0.25", "bn": "1", "seed": "7", "aug": "1", "hflip": "0",
        "vflip": "1", "rot": "30", "shift": "0.12", "zoom": "0.2", "bright": "0.3", "contrast": "0.1",
        "noise": "0.05", "blur": "1.5", "pace": PACE}
    again = reopened(at, keys)
    # opening the link set the widgets and nothing else: no run, no model
    assert "trained_models" not in again.session_state and not again.metric
    assert any(b.key == "train_start" for b in again.button)


def test_the_small_data_view_and_a_zip_colour_come_back():
    at = open_link("training", {"mode": "Small data: see overfitting", "small_n": "40", "epochs": "3"})
    assert shown(at, {"train_mode", "train_small_n_digits", "train_epochs_digits"}) == {
        "train_mode": "Small data: see overfitting", "train_small_n_digits": 40, "train_epochs_digits": 3}
    reopened(at, {"train_mode", "train_small_n_digits", "train_epochs_digits"})
    at = open_link("training", {"data": "zip", "colour": "Grey", "epochs": "4"})
    assert shown(at, {"train_data", "train_zip_colour"}) == {"train_data": "zip", "train_zip_colour": "Grey"}
    assert at.session_state["train_epochs_zip"] == 4  # drawn once a zip is uploaded
    assert written(at) == {"data": "zip", "colour": "Grey", "epochs": "4"}


def test_a_number_beyond_the_data_set_is_clamped_to_its_size():
    at = open_link("training", {"n": "5000"})  # digits has 1,078 training images
    assert at.number_input(key="train_n_digits").value == 1078


def test_a_hostile_link_is_refused_literally_and_the_page_keeps_its_defaults():
    query = {"data": "nosuch", "epochs": "500", "dropout": "nan", "lr": "0.5", "seed": "1e9",
             "arch": "<b>" + "x" * 5000, "zzz": "[a](http://x)"}
    at = open_link("training", query)
    text = warnings(at)
    assert "not understood" in text
    for words in ("data=nosuch", "epochs=500", "dropout=nan", "lr=0.5", "seed=1e9", "arch=<b>xxx", "zzz"):
        assert words in text, (words, text)
    assert len(text) < 1000  # the 5,000 characters are quoted short
    assert shown(at, {"train_data", "train_epochs_digits", "train_dropout_digits"}) == {
        "train_data": "digits", "train_epochs_digits": 10, "train_dropout_digits": 0.0}
    assert written(at) == {}


def as_text(value) -> str:
    """A value as an address writes it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


LEARNING_RATES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 1e-1)
VALUES = {  # allowed values of some settings (n at most the smallest data set's 1,078 training images)
    "arch": st.sampled_from(["digits", "shapes", "scenes"]), "n": st.integers(1, 1000),
    "epochs": st.integers(1, 200), "opt": st.sampled_from(["adam", "sgd"]), "lr": st.sampled_from(LEARNING_RATES),
    "batch": st.sampled_from([8, 16, 32, 64, 128, 256]), "decay": st.sampled_from([0.0, 1e-5, 1e-4, 1e-3, 1e-2]),
    "dropout": st.floats(0.0, 0.7), "bn": st.booleans(), "seed": st.integers(0, 10_000), "aug": st.booleans(),
    "rot": st.integers(0, 90), "shift": st.floats(0.0, 0.3), "blur": st.floats(0.0, 2.0),
    "pace": st.sampled_from([PACE, "slow (6 s per epoch)"]),
}
KEYS = {"arch": "train_arch_{}", "n": "train_n_{}", "epochs": "train_epochs_{}", "opt": "train_opt_{}",
        "lr": "train_lr_{}_adam", "batch": "train_batch_{}", "decay": "train_decay_{}", "dropout": "train_dropout_{}",
        "bn": "train_bn_{}", "seed": "train_seed_{}", "aug": "train_aug_on_{}", "rot": "train_rot_{}",
        "shift": "train_shift_{}", "blur": "train_blur_{}", "pace": "train_pace"}


@st.composite
def links_(draw):
    """A random valid address: a data set and some settings, each with an allowed value."""
    data = draw(st.sampled_from(["digits", "shapes", "scenes"]))
    names = draw(st.lists(st.sampled_from(sorted(VALUES)), unique=True, max_size=6))
    return data, {"data": data, **{name: as_text(draw(VALUES[name])) for name in names}}


@settings(max_examples=4, deadline=None)
@given(links_())
def test_random_links_open_the_same_settings(link):
    data, query = link
    at = open_link("training", query)
    assert "not understood" not in warnings(at)
    assert at.session_state["train_data"] == data
    for name, text in query.items():
        if name != "data":
            assert as_text(at.session_state[KEYS[name].format(data)]) == text, name
    # the address holds the linked values that differ from the start values, and nothing else
    assert written(at).items() <= query.items()
    drawn = {w.key for kind in WIDGETS for w in at.get(kind) if w.key and w.key.startswith("train_")}
    reopened(at, drawn)
