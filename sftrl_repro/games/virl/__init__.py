"""V-IRL navigation as a game (paper Sec. 4.2), offline: generated cities or the authors' routes.

Modules, one job each:

* :mod:`.geometry` headings, compass names, relative turns (wrapped, or the authors' unwrapped bug),
  WGS-84 geodesic distances;
* :mod:`.route` the route schema shared by both sources (:class:`Route`, :class:`Leg`, :class:`Landmark`);
* :mod:`.city` the procedural city generator (training city, VLN-mini-like cities);
* :mod:`.rail` the ground-truth rail and the instructions (the authors' rule by default);
* :mod:`.render` / :mod:`.styles` street views (drawn, or cut from panoramas) and the 2x2 grid;
* :mod:`.real_data` the loader of the authors' files and a fixture writer in their schema;
* :mod:`.sources` route sets (where routes, rails and views come from).

The Gymnasium environment is :class:`sftrl_repro.envs.virl.VIRLEnv`. Names are imported lazily, so
``import sftrl_repro.games.virl.geometry`` stays light (no PIL).
"""

from __future__ import annotations

import importlib

_MODULES = {
    "route": ["Route", "Leg", "Landmark"],
    "city": ["City", "CityConfig", "Street", "generate_city", "training_city", "vln_mini_cities",
             "vln_mini_routes", "city_summary"],
    "rail": ["Rail", "RailPoint", "build_rail", "route_instructions", "rail_rows"],
    "sources": ["RouteSet", "GeneratedRoutes", "make_route_set"],
    "real_data": ["RealRoutes", "load_real_routes", "write_fixture", "VIRLDataNotFoundError"],
    "render": ["StreetViewRenderer", "view_grid", "panorama_view"],
    "geometry": ["COMPASS", "RELATIVE", "relative_turn"],
}
#: public name -> the module (full dotted path) that defines it
EXPORTS = {name: f"{__name__}.{module}" for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(importlib.import_module(EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(EXPORTS))


__all__ = sorted(EXPORTS)
