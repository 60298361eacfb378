"""V-IRL navigation, the Gymnasium side (paper Sec. 4.2).

* :mod:`.env` the environment :class:`VIRLEnv` (id ``sftrl_repro/VIRL-v0``);
* :mod:`.policies` scripted oracle and random baselines.

The game itself (geometry, cities, rails, rendering, the authors' data loader) is
:mod:`sftrl_repro.games.virl`; its public names are re-exported here lazily, so
``from sftrl_repro.envs.virl import City, build_rail`` keeps working.
"""

from __future__ import annotations

import importlib

from sftrl_repro.games.virl import EXPORTS as _GAME_EXPORTS

_EXPORTS = {"VIRLEnv": f"{__name__}.env", **_GAME_EXPORTS}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
