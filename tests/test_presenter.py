"""The Presenter switch: in the sidebar of every page, also opened by a link (presenter=1);
figures then get the presenter template and larger fonts, and long explanations are hidden."""
import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from vizcore.figures import style

ROOT = Path(__file__).resolve().parents[1]


def _app(**query):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _templates(at):
    return [json.loads(c.proto.spec)["layout"]["template"] for c in at.get("plotly_chart")]


def test_switch_is_off_by_default_and_figures_use_the_app_template():
    at = _app()
    assert at.toggle(key="presenter").value is False
    at.switch_page("pages/pooling.py").run()
    assert not at.exception
    templates = _templates(at)
    assert templates and all(t == style.TEMPLATE.to_plotly_json() for t in templates)
    assert "presenter" not in at.query_params


def test_link_opens_presenter_mode_and_keeps_it_across_pages():
    at = _app(presenter="1")
    assert at.toggle(key="presenter").value is True
    at.switch_page("pages/pooling.py").run()
    assert not at.exception and at.toggle(key="presenter").value is True
    templates = _templates(at)
    assert templates and all(t == style.PRESENTER_TEMPLATE.to_plotly_json() for t in templates)
    assert at.query_params["presenter"] in ("1", ["1"])
    at.toggle(key="presenter").set_value(False).run()
    assert "presenter" not in at.query_params
    assert all(t == style.TEMPLATE.to_plotly_json() for t in _templates(at))
