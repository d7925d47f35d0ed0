"""Compose a sweep job's config from a template shared by every job with the same choices.

Hydra composes each job of a multirun sweep from scratch, twice: once when the sweeper
validates the batch before launching anything, once when the launcher runs the job. A
composition reads and merges every config file of the defaults tree (~0.1-0.2 s here),
and in a sweep such as ``seed=range(256)`` or ``optimizer.lr=0.01,0.1`` the jobs differ
only in values, never in which files are read.

:class:`ComposeOnce` wraps Hydra's config loader. A job's overrides are split the way
Hydra splits them (``hydra._internal.defaults_list.Overrides``): config-group choices and
Hydra's own overrides decide the defaults tree, the others ("config overrides") are set
on the composed config afterwards. The first job of each distinct set of choices is
composed by Hydra with its choices only (the *template*); every job then gets a copy of
its template with its config overrides applied by Hydra's own function and Hydra's record
of them (``hydra.overrides.task``, ``hydra.job.override_dirname``) filled in as Hydra
fills it, which is the order Hydra itself follows. These are Hydra 1.3's internals
(``hydra-core<1.4`` in the dependencies); ``tests/test_compose_once.py`` checks the result
equals Hydra's own composition, field for field, over sweeps of values, choices,
additions, deletions, and errors, so a Hydra that changes them fails there first.

Templates, and Hydra's config repository (which caches the files it read), live per
process, under the sweep's token: a warm joblib worker reuses those of
its sweep, and a later sweep in the same process (with edited config files) starts again.
"""

from __future__ import annotations

import copy
import uuid

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.config_repository import IConfigRepository
from hydra._internal.defaults_list import Overrides
from hydra.core.config_loader import ConfigLoader
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, OmegaConf

# (sweep token, config name, choices or Hydra's overrides) -> the template or the config
# repository; one sweep's at a time.
_templates: dict[tuple[str, str | None, tuple[str, ...]], DictConfig] = {}
_repositories: dict[tuple[str, str | None, tuple[str, ...]], IConfigRepository] = {}


class ComposeOnce(ConfigLoader):
    """Hydra's config loader, composing each distinct set of a sweep's choices once."""

    def __init__(self, inner: ConfigLoader, token: str | None = None) -> None:
        self.inner = inner
        self.token = token or uuid.uuid4().hex

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        hydras = self.inner
        if not isinstance(hydras, ConfigLoaderImpl):  # another loader: nothing to share
            return hydras.load_sweep_config(master_config, sweep_overrides)
        config_name = master_config.hydra.job.config_name
        hydra_overrides = OmegaConf.to_container(master_config.hydra.overrides.hydra)
        assert isinstance(hydra_overrides, list)
        lines = [str(line) for line in hydra_overrides] + list(sweep_overrides)
        parsed = OverridesParser.create().parse_overrides(lines)
        repo = self._repository(hydras, config_name, parsed)
        hydras.validate_sweep_overrides_legal(overrides=parsed, run_mode=RunMode.RUN, from_shell=True)
        values = [o for o in Overrides(repo, parsed).config_overrides if not o.is_hydra_override()]
        choices = tuple(str(o.input_line) for o in parsed if not any(o is v for v in values))
        config = copy.deepcopy(self._template(hydras, config_name, choices))
        ConfigLoaderImpl._apply_overrides_to_config(values, config)
        _record_overrides(config, parsed)
        OmegaConf.copy_cache(from_config=master_config, to_config=config)
        return config

    def _repository(self, hydras: ConfigLoaderImpl, config_name: str | None,
                    parsed: list[Override]) -> IConfigRepository:
        """Hydra's config repository for these overrides: its search path depends only on
        the primary config and Hydra's own overrides (``hydra.searchpath``), so jobs that
        share those share it, and with it the config files it has read."""
        hydra_lines = tuple(str(o.input_line) for o in parsed if o.is_hydra_override())
        key = (self.token, config_name, hydra_lines)
        repo = _repositories.get(key)
        if repo is None:
            _forget_other_sweeps(_repositories, self.token)
            repo = _repositories[key] = hydras._parse_overrides_and_create_caching_repo(
                config_name, list(hydra_lines))[1]
        return repo

    def _template(self, hydras: ConfigLoaderImpl, config_name: str | None, choices: tuple[str, ...]) -> DictConfig:
        key = (self.token, config_name, choices)
        template = _templates.get(key)
        if template is None:
            _forget_other_sweeps(_templates, self.token)
            template = _templates[key] = hydras.load_configuration(
                config_name=config_name, overrides=list(choices), run_mode=RunMode.RUN)
        return template

    # Everything else is the wrapped loader's.
    def load_configuration(self, config_name, overrides, run_mode, from_shell=True, validate_sweep_overrides=True):
        return self.inner.load_configuration(config_name, overrides, run_mode, from_shell, validate_sweep_overrides)

    def get_search_path(self):
        return self.inner.get_search_path()

    def get_sources(self):
        return self.inner.get_sources()

    def list_groups(self, parent_name):
        return self.inner.list_groups(parent_name)

    def get_group_options(self, group_name, results_filter=ObjectType.CONFIG, config_name=None, overrides=None):
        return self.inner.get_group_options(group_name, results_filter, config_name, overrides)

    def compute_defaults_list(self, config_name, overrides, run_mode):
        return self.inner.compute_defaults_list(config_name, overrides, run_mode)


def sharing_templates(context: HydraContext) -> HydraContext:
    """``context`` with its config loader wrapped in a :class:`ComposeOnce` (for a sweeper's
    launcher and its own validation)."""
    return HydraContext(config_loader=ComposeOnce(context.config_loader), callbacks=context.callbacks)


def _forget_other_sweeps(cache: dict, token: str) -> None:
    for stale in [key for key in cache if key[0] != token]:
        del cache[stale]


def _record_overrides(config: DictConfig, parsed: list[Override]) -> None:
    """Hydra's record of a job's overrides, in command-line order, as its composition writes it."""
    task = [o for o in parsed if not o.is_hydra_override()]
    config.hydra.overrides.task = [o.input_line for o in task]
    config.hydra.overrides.hydra = [o.input_line for o in parsed if o.is_hydra_override()]
    dirname = config.hydra.job.config.override_dirname
    config.hydra.job.override_dirname = get_overrides_dirname(
        overrides=task, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
