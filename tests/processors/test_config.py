"""[processors.<name>] tables: loading, order, validation errors, check-config rendering."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from edge_agent.config.load import LoadedConfig, load_config
from edge_agent.config.render import render_config
from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Signal
from edge_agent.processors.config import FilterConfig, RedactConfig, ResourceConfig
from edge_agent.runtime.discovery import PluginRegistry

PLUGINS = """
[plugins.app]
type = "otlp"
[plugins.syslog]
type = "filelog"
include = ["/var/log/syslog"]
"""


def load(
    tmp_path: Path, text: str, *, dropins: dict[str, str] | None = None, env: dict[str, str] | None = None
) -> LoadedConfig:
    path = tmp_path / "agent.toml"
    path.write_text(PLUGINS + textwrap.dedent(text))
    for name, body in (dropins or {}).items():
        (tmp_path / "conf.d").mkdir(exist_ok=True)
        (tmp_path / "conf.d" / name).write_text(textwrap.dedent(body))
    return load_config(main_path=path, environ=env or {}, plugin_types=PluginRegistry.for_config)


def test_processors_load_in_file_order_with_types_and_selection(tmp_path: Path) -> None:
    """Tables become processor instances in order; type defaults to the table name."""
    loaded = load(
        tmp_path,
        """
        [processors.scrub]
        type = "redact"
        signals = ["logs", "traces"]
        plugins = ["app", "sys*"]
        presets = ["pii"]
        keys = ["password"]
        [processors.filter]
        severity_max = "debug4"
        [processors.site]
        type = "resource"
        set = { "site" = "plant-3", "rack" = 4 }
        """,
    )
    scrub, quiet, site = loaded.config.processors
    assert (scrub.name, scrub.type, scrub.signals, scrub.plugins) == (
        "scrub",
        "redact",
        (Signal.LOGS, Signal.TRACES),
        ("app", "sys*"),
    )
    assert isinstance(scrub.settings, RedactConfig) and scrub.settings.presets == ("pii",)
    assert quiet.type == "filter" and isinstance(quiet.settings, FilterConfig)
    assert isinstance(site.settings, ResourceConfig) and site.settings.set == {"site": "plant-3", "rack": 4}
    assert loaded.provenance["processors.scrub.presets"].endswith("agent.toml:12")


def test_dropins_append_processors_and_override_keys(tmp_path: Path) -> None:
    """A conf.d file adds a processor after the main file's and may change an existing one in place."""
    loaded = load(
        tmp_path,
        '[processors.scrub]\ntype = "redact"\npresets = ["email"]\n',
        dropins={
            "50-more.toml": '[processors.scrub]\nenabled = false\n[processors.late]\ntype = "filter"\nspan_names = ["x"]\n'
        },
    )
    assert [p.name for p in loaded.config.processors] == ["scrub", "late"]
    assert not loaded.config.processors[0].enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[processors.x]\ntype = "redcat"\n',
            r"processors\.x\.type: unknown processor type 'redcat'; did you mean 'redact'\?",
        ),
        (
            '[processors.redact]\npresets = ["emails"]\n',
            r"processors\.redact\.presets: unknown redaction preset 'emails'",
        ),
        ('[processors.redact]\nkeys = ["a"]\nmode = "hash"\n', r"processors\.redact\.mode: unknown key"),
        ('[processors.redact]\nkeys = ["a"]\naction = "hash"\n', "needs hash_key_file"),
        ("[processors.redact]\n", "a redact processor without rules does nothing"),
        (
            '[processors.redact]\npatterns = { bad = "(x" }\n',
            "pattern 'bad' is not a valid regular expression",
        ),
        ('[processors.filter]\naction = "keep"\n', "set at least one criterion"),
        (
            '[processors.filter]\nmetric_names = ["a"]\nseverity_min = "warn"\n',
            "cannot be combined in one filter",
        ),
        (
            '[processors.filter]\nseverity_min = "loud"\n',
            r"processors\.filter\.severity_min: unknown severity 'loud'",
        ),
        ('[processors.filter]\nseverity_min = "error"\nseverity_max = "info"\n', "is above severity_max"),
        ("[processors.attributes]\n", "this processor would do nothing"),
        ('[processors.attributes]\nrename = { a = "c", b = "c" }\n', "several keys are renamed to c"),
        ("[processors.attributes]\nset = { a = [1, 2] }\n", "must be a string, number or boolean"),
        (
            '[processors.scrub]\ntype = "redact"\nkeys = ["a"]\nplugins = ["applog"]\n',
            r"'applog' matches no plugin instance; did you mean 'app'\?",
        ),
        (
            '[processors.scrub]\ntype = "redact"\nkeys = ["a"]\nsignals = ["log"]\n',
            "must be one of traces, metrics, logs",
        ),
        ("[processors]\nscrub = 3\n", r"processors\.scrub: expected a table"),
    ],
)
def test_bad_processor_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Every mistake is a ConfigError naming the processor key and what to do."""
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text)


def test_check_config_renders_processors_that_load_back_identically(tmp_path: Path) -> None:
    """check-config prints processor tables with origins, and the output is a valid config again."""
    loaded = load(
        tmp_path,
        """
        [processors.scrub]
        type = "redact"
        plugins = ["app"]
        presets = ["email"]
        patterns = { session = "sid=(?P<secret>[0-9a-f]+)" }
        [processors.site]
        type = "resource"
        set = { "site" = "plant-3" }
        """,
    )
    text = render_config(loaded.config, loaded.provenance)
    assert "[processors.scrub]" in text and 'type = "redact"' in text
    again = tmp_path / "again"
    again.mkdir()
    (again / "agent.toml").write_text(text)
    reloaded = load_config(main_path=again / "agent.toml", environ={}, plugin_types=PluginRegistry.for_config)
    assert reloaded.config.processors == loaded.config.processors


DOC = Path(__file__).resolve().parents[2] / "docs" / "processors.md"
DOC_PLUGINS = '[plugins.otlp]\n[plugins.filelog]\ninclude = ["/var/log/*.log"]\n[plugins.journald]\n'


@pytest.mark.parametrize("example", re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S))
def test_docs_examples_are_valid_configs(example: str, tmp_path: Path) -> None:
    """Each TOML example in docs/processors.md passes the real config loader and defines processors."""
    path = tmp_path / "agent.toml"
    path.write_text(DOC_PLUGINS + example.replace("# firmware_configs/my-gateway.toml\n", ""))
    loaded = load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)
    assert loaded.config.processors
