"""Route sets: where an environment's routes, rails and street views come from.

A :class:`RouteSet` holds routes and knows how to lay a rail over one and how to show a rail point
as 4 street views. Two kinds exist: :class:`GeneratedRoutes` (procedural cities, views drawn by
:class:`~sftrl_repro.games.virl.render.StreetViewRenderer`) and
:class:`~sftrl_repro.games.virl.real_data.RealRoutes` (the authors' files, views cut from panoramas).
:func:`make_route_set` turns the environment's ``routes=`` argument into one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from sftrl_repro.games.virl.city import TRAIN_ROUTES, City, training_city, vln_mini_cities
from sftrl_repro.games.virl.rail import Rail, RailPoint, build_rail
from sftrl_repro.games.virl.render import StreetViewRenderer, view_grid
from sftrl_repro.games.virl.route import Route

#: The named route sets the environment accepts as ``routes=``.
ROUTE_SOURCES = ("train", "vln_mini", "real")


class RouteSet:
    """Routes plus the two things an environment needs from their source: rails and street views.

    Attributes:
        name: a short name (``"train"``, ``"vln_mini"``, ``"real"``, ...).
        routes: the routes, in a fixed order (``options={"route_index": i}`` picks ``routes[i]``).
    """

    name: str
    routes: tuple[Route, ...]

    def rail(self, route: Route, *, rng: np.random.Generator, **rail_kwargs) -> Rail:
        """The ground-truth rail of one episode (see :func:`~sftrl_repro.games.virl.rail.build_rail`)."""
        return build_rail(route, rng=rng, **rail_kwargs)

    def views(self, route: Route, point: RailPoint, size: int) -> list[np.ndarray]:
        """The 4 views (front, right, back, left) at ``point``: ``uint8 (size, size, 3)`` each."""
        raise NotImplementedError

    def grid(self, route: Route, point: RailPoint, size: int) -> np.ndarray:
        """The 2x2 grid of :meth:`views`, ``uint8`` of shape ``render.grid_shape(size)``."""
        return view_grid(self.views(route, point, size))

    def __len__(self) -> int:
        return len(self.routes)


class GeneratedRoutes(RouteSet):
    """The routes of one or more generated cities, in city order.

    Args:
        cities: the cities; each route is drawn with its own city's streets, landmarks and style.
        name: the set's name.
    """

    def __init__(self, cities: Sequence[City], name: str = "generated"):
        self.cities = tuple(cities)
        self.name = name
        self.routes = tuple(route for city in self.cities for route in city.routes)
        self._city_of = {route.route_id: city for city in self.cities for route in city.routes}
        self._renderers: dict[str, StreetViewRenderer] = {}

    def renderer(self, route: Route) -> StreetViewRenderer:
        """The renderer of the city a route belongs to (built on first use)."""
        city = self._city_of[route.route_id]
        key = f"{city.name}/{city.config.seed}/{city.config.tag}"
        if key not in self._renderers:
            self._renderers[key] = StreetViewRenderer(city)
        return self._renderers[key]

    def views(self, route: Route, point: RailPoint, size: int) -> list[np.ndarray]:
        return self.renderer(route).views(point.position, point.heading, size)


def make_route_set(routes: str | RouteSet, *, data_dir: str | os.PathLike | None = None, city_seed: int = 0,
                   n_routes: int = TRAIN_ROUTES) -> RouteSet:
    """The route set named by ``routes`` (or ``routes`` itself if it is already a :class:`RouteSet`).

    Args:
        routes: ``"train"`` (the generated 1,000-route New York-style city), ``"vln_mini"`` (18
            routes in 9 generated cities) or ``"real"`` (the authors' files in ``data_dir``).
        data_dir: folder of the authors' files (``routes="real"``); default ``$SFTRL_VIRL_DATA``.
        city_seed: seed of the generated cities.
        n_routes: number of routes of the generated training city.

    Raises:
        ValueError: ``routes`` names no known set.
        VIRLDataNotFoundError: ``routes="real"`` and the files are not where they were said to be.
    """
    if isinstance(routes, RouteSet):
        return routes
    if routes == "train":
        return GeneratedRoutes([training_city(city_seed, n_routes)], name="train")
    if routes == "vln_mini":
        return GeneratedRoutes(vln_mini_cities(city_seed), name="vln_mini")
    if routes == "real":
        from sftrl_repro.games.virl.real_data import load_real_routes

        return load_real_routes(data_dir)
    options = ", ".join(repr(v) for v in ROUTE_SOURCES)
    raise ValueError(f"routes={routes!r} is not valid; choose one of: {options}, or pass a RouteSet "
                     f"(e.g. GeneratedRoutes([generate_city(...)]) or load_real_routes(path))")
