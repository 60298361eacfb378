"""V-IRL navigation, offline (PAPER.md section 3): generated cities or the authors' released routes.

Modules, one job each:

* :mod:`.geometry` headings, compass names, relative turns (wrapped, or the authors' unwrapped bug);
* :mod:`.route` the route schema shared by both sources (:class:`Route`, :class:`Leg`, :class:`Landmark`);
* :mod:`.city` the procedural city generator (training city, VLN-mini-like cities);
* :mod:`.rail` the ground-truth rail and the instructions;
* :mod:`.render` / :mod:`.styles` street views (drawn, or cut from panoramas) and the 2x2 grid;
* :mod:`.real_data` the loader of the authors' files and a fixture writer in their schema;
* :mod:`.sources` route sets (where routes, rails and views come from);
* :mod:`.env` the Gymnasium environment :class:`VIRLEnv` (id ``sftrl_repro/VIRL-v0``);
* :mod:`.policies` scripted oracle and random baselines; :mod:`.plot` city maps and view figures.

Names are imported lazily, so ``import sftrl_repro.envs.virl.geometry`` stays light (no PIL).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "VIRLEnv": "env",
    "Route": "route", "Leg": "route", "Landmark": "route",
    "City": "city", "CityConfig": "city", "Street": "city", "generate_city": "city", "training_city": "city",
    "vln_mini_cities": "city", "vln_mini_routes": "city", "city_summary": "city",
    "Rail": "rail", "RailPoint": "rail", "build_rail": "rail", "route_instructions": "rail", "rail_rows": "rail",
    "RouteSet": "sources", "GeneratedRoutes": "sources", "make_route_set": "sources",
    "RealRoutes": "real_data", "load_real_routes": "real_data", "write_fixture": "real_data",
    "VIRLDataNotFoundError": "real_data",
    "StreetViewRenderer": "render", "view_grid": "render", "panorama_view": "render",
    "COMPASS": "geometry", "RELATIVE": "geometry", "relative_turn": "geometry",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
