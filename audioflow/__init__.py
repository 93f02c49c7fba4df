"""audioflow: a YAML recipe in, a mastered episode out. See README.md."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
