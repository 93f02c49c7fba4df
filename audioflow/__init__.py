"""audioflow: a YAML recipe in, a mastered episode out. See README.md and docs/reference/api.md.

The public API, imported on first use (``import audioflow`` itself loads nothing else, so the
command line starts fast)::

    import audioflow

    project = audioflow.open("recipes/night-shift.yaml")  # or open_text(text, root=...), open_recipe(recipe)
    plan = project.plan()                                  # what is stale, and why; the estimated cost
    report = project.run(jobs=2)                           # or: await project.arun() in a running loop
    report.manifest.loudness.measured_lufs                 # the typed QC manifest
    episode = report.segment()                             # the master as a pydub AudioSegment

Every error is an :class:`AudioflowError`: :class:`RecipeError` (``path:line:col: message``),
:class:`ProviderError`, :class:`CacheError`, :class:`AudioError`, :class:`BudgetError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name → the module that defines it (imported when the name is first used).
_LAZY = {
    "open": "audioflow.engine.facade",
    "open_text": "audioflow.engine.facade",
    "open_recipe": "audioflow.engine.facade",
    "Project": "audioflow.engine.facade",
    "RunReport": "audioflow.engine.facade",
    "Plan": "audioflow.engine.staleness",
    "StepPlan": "audioflow.engine.staleness",
    "StepEvent": "audioflow.engine.events",
    "StepStatus": "audioflow.engine.events",
    "Manifest": "audioflow.engine.bounce",
    "BudgetError": "audioflow.engine.budget",
    "Recipe": "audioflow.recipe",
    "load_recipe": "audioflow.recipe",
    "parse_recipe": "audioflow.recipe",
    "Audio": "audioflow.audio",
    "AudioflowError": "audioflow.errors",
    "AudioError": "audioflow.errors",
    "CacheError": "audioflow.errors",
    "ProviderError": "audioflow.errors",
    "RecipeError": "audioflow.errors",
}
#: Where a public name is called something else in its module.
_RENAMED = {"open": "open_project"}

__all__ = [
    "Audio",
    "AudioError",
    "AudioflowError",
    "BudgetError",
    "CacheError",
    "Manifest",
    "Plan",
    "Project",
    "ProviderError",
    "Recipe",
    "RecipeError",
    "RunReport",
    "StepEvent",
    "StepPlan",
    "StepStatus",
    "__version__",
    "load_recipe",
    "open",
    "open_recipe",
    "open_text",
    "parse_recipe",
]

if TYPE_CHECKING:
    from .audio import Audio
    from .engine.bounce import Manifest
    from .engine.budget import BudgetError
    from .engine.events import StepEvent, StepStatus
    from .engine.facade import Project, RunReport, open_recipe, open_text
    from .engine.facade import open_project as open
    from .engine.staleness import Plan, StepPlan
    from .errors import AudioError, AudioflowError, CacheError, ProviderError, RecipeError
    from .recipe import Recipe, load_recipe, parse_recipe


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562) and keep the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audioflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
