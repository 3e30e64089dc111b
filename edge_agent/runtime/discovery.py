"""Plugin discovery: the ``edge_agent.plugins`` entry-point group and plugin directories.

First-party plugins (``plugins/`` in the source tree, installed as
``edge_agent_plugins``) register through the same entry-point group as
third-party ones, so there is exactly one loading path.

Entry points are loaded lazily, by type name, when the config uses them:
importing a plugin costs memory, and a device should pay only for what it
runs. A plugin directory holds Python modules (``*.py`` or packages); every
plugin class defined in such a module registers under its ``name``.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from edge_agent.errors import ConfigError, PluginError
from edge_agent.plugin_api import BlockingScraper, Plugin, Receiver, Scraper
from edge_agent.runtime.entrypoints import EntryPoint, entry_points

ENTRY_POINT_GROUP = "edge_agent.plugins"
_PLUGIN_KINDS = (Scraper, BlockingScraper, Receiver)


@dataclass(frozen=True)
class PluginSpec:
    """A discovered plugin class and where it came from."""

    type_name: str
    cls: type[Plugin[Any]]
    source: str

    @property
    def kind(self) -> str:
        return self.cls.kind


class PluginRegistry:
    """Known plugin types; entry points are imported on first use."""

    def __init__(
        self,
        eps: Iterable[EntryPoint] = (),
        plugin_dirs: Sequence[Path] = (),
    ) -> None:
        self._entry_points = {ep.name: ep for ep in eps}
        self._loaded: dict[str, PluginSpec] = {}
        # modules in plugin directories that failed to import: reported, never fatal by themselves
        self.import_errors: list[PluginError] = []
        for directory in plugin_dirs:
            specs, errors = _scan_directory(directory)
            self.import_errors.extend(errors)
            for spec in specs:
                self._loaded.setdefault(spec.type_name, spec)

    @classmethod
    def discover(cls, plugin_dirs: Sequence[Path] = ()) -> PluginRegistry:
        return cls(entry_points(ENTRY_POINT_GROUP), plugin_dirs)

    @classmethod
    def for_config(cls, plugin_dirs: Sequence[str]) -> PluginRegistry:
        """Discover plugins for the config loader; bad directories become config errors."""
        try:
            return cls.discover([Path(d) for d in plugin_dirs])
        except PluginError as exc:
            raise ConfigError(str(exc), key="agent.plugin_dirs") from None

    def names(self) -> list[str]:
        return sorted({*self._entry_points, *self._loaded})

    def get(self, type_name: str) -> PluginSpec:
        spec = self._loaded.get(type_name)
        if spec is not None:
            return spec
        ep = self._entry_points.get(type_name)
        if ep is None:
            note = "".join(f" (note: {err})" for err in self.import_errors)
            raise PluginError(f"unknown plugin type {type_name!r}{note}")
        spec = _load_entry_point(ep)
        self._loaded[type_name] = spec
        return spec

    def config_class(self, type_name: str) -> type:
        return self.get(type_name).cls.config_class

    def load_all(self) -> list[PluginSpec | PluginError]:
        """Load every known plugin (for ``edge-agent plugins``); failures are returned, not raised."""
        result: list[PluginSpec | PluginError] = list(self.import_errors)
        for name in self.names():
            try:
                result.append(self.get(name))
            except PluginError as exc:
                result.append(exc)
        return result


def _load_entry_point(ep: EntryPoint) -> PluginSpec:
    try:
        obj = ep.load()
    except Exception as exc:  # a broken third-party plugin must not stop the agent loading others
        raise PluginError(f"plugin {ep.name!r} failed to import from {ep.value}: {exc!r}") from exc
    if not (inspect.isclass(obj) and issubclass(obj, _PLUGIN_KINDS)):
        raise PluginError(f"entry point {ep.name!r} ({ep.value}) is not a plugin class")
    source = f"entry point {ep.value}" + (f" ({ep.dist_name} {ep.dist_version})" if ep.dist_name else "")
    if getattr(obj, "name", None) != ep.name:
        raise PluginError(f"entry point {ep.name!r} points at a plugin named {getattr(obj, 'name', None)!r}")
    return PluginSpec(ep.name, obj, source)


def _scan_directory(directory: Path) -> tuple[list[PluginSpec], list[PluginError]]:
    if not directory.is_dir():
        raise PluginError(f"plugin directory not found: {directory}")
    specs: list[PluginSpec] = []
    errors: list[PluginError] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py" or (path / "__init__.py").is_file():
            try:
                module = _import_path(path)
            except PluginError as exc:
                errors.append(exc)
                continue
            specs.extend(PluginSpec(cls.name, cls, f"directory {path}") for cls in _plugin_classes(module))
    return specs, errors


def _import_path(path: Path) -> ModuleType:
    stem = path.stem if path.suffix == ".py" else path.name
    module_name = f"edge_agent_local_plugins.{stem}"
    location = path if path.suffix == ".py" else path / "__init__.py"
    spec = importlib.util.spec_from_file_location(module_name, location)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(f"plugin module {path} failed to import: {exc!r}") from exc
    return module


def _plugin_classes(module: ModuleType) -> list[type[Plugin[Any]]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, _PLUGIN_KINDS)
        and obj not in _PLUGIN_KINDS
        and obj.__module__ == module.__name__
        and not inspect.isabstract(obj)
    ]
