"""The shipped digits weights come from the project's own training command, as their meta says."""
import json
import shlex
from pathlib import Path

from vizcore import models, train

ROOT = Path(__file__).resolve().parents[1]


def test_recorded_digits_command_reproduces_the_shipped_model(tmp_path):
    meta = json.loads((ROOT / "assets" / "digits.json").read_text())
    argv = shlex.split(meta["train_command"])
    assert argv[:3] == ["python", "-m", "vizcore.train"]
    train.main(argv[3:] + ["--out", str(tmp_path)])

    _, new_meta = models.load_pretrained("digits", folder=tmp_path)
    assert new_meta["seed"] == meta["seed"] and new_meta["params"] == meta["params"]
    # Same accuracy on the fixed test split. On this machine the weights come out bit-identical;
    # another CPU may round differently in the last digits, so compare what users see.
    assert abs(new_meta["test_accuracy"] - meta["test_accuracy"]) <= 0.006
