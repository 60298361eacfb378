"""The authors' released V-IRL files: a loader, a panorama store, and a fixture writer for tests.

The data is not in git. It is the Hugging Face dataset ``tianzhechu/SFTvsRL_Data``: unzip
``nyc_1k_routes.zip`` (the 1,000 NYC training routes, 2.17 GB) or ``VLN_mini.zip`` (the 18 VLN-mini
routes, 58.6 MB) anywhere. A data folder holds (paper Sec. 4.2):

* ``route_infos.json``: ``[route_list, route_num]``. A route has ``start_place.relocated_geocode``
  (``[lat, lng]``), ``init_heading`` (degrees; 0 or missing means "draw one at random"),
  ``route_results.geocode_list`` (the leg ends: turning intersections, then the destination),
  ``route_results.landmark_list``, ``dest_place`` (``name``, ``geocode``) and ``milestone_info``, a
  string of ``{...}`` blocks, one per leg, with ``"landmarks": "..."`` (what is seen where the leg
  ends) and ``"to_next_intersection_heading": "177 (south)"``;
* ``gps_pano_mapping.pkl``: a pickled ``dict`` from ``(lat, lng)`` to a panorama id;
* ``street_views/<pano_id>.jpg``: equirectangular panoramas, with ``<pano_id>.metadata.json``
  whose ``rotation`` (degrees) says which column faces north (see ``render.panorama_view``).

Rails over real routes are relocated to panoramas the way the authors do it: every rail point moves
to the nearest panorama; interpolated forward points with no panorama within 20 m are dropped. The
rail's rule (``mode="authors"`` by default) measures legs and the 8 m test as WGS-84 geodesics between
geocodes, as theirs (see :mod:`~sftrl_repro.games.virl.rail`). A milestone block without
``"landmarks"``, or with the authors' ``"No landmark nearby"``, is a leg end without landmark.
Landmark names are folded to ASCII (``"Cafe de la Presse"``) so that prompts stay in the
environment's printable-ASCII text space.

:func:`write_fixture` writes a small data folder in exactly this schema from a generated city; the
tests load it, so no real data is ever needed to test the loader.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sftrl_repro.games.virl.city import CityConfig, generate_city
from sftrl_repro.games.virl.geometry import (
    COMPASS,
    compass_name,
    distance,
    geocode_to_xy,
    lerp,
    xy_to_geocode,
)
from sftrl_repro.games.virl.rail import NO_LANDMARK, RailPoint, build_rail
from sftrl_repro.games.virl.render import panorama_view
from sftrl_repro.games.virl.route import Leg, Route
from sftrl_repro.games.virl.sources import RouteSet
from sftrl_repro.utils.io import write_bytes_atomic, write_json_atomic

#: Environment variable read when no data folder is passed.
DATA_ENV_VAR = "SFTRL_VIRL_DATA"
HF_DATASET = "tianzhechu/SFTvsRL_Data"
ARCHIVES = ("nyc_1k_routes.zip", "VLN_mini.zip")
ROUTE_FILE = "route_infos.json"
MAPPING_FILE = "gps_pano_mapping.pkl"
VIEWS_DIR = "street_views"
#: Forward points with no panorama this close are dropped (the authors' ``MAPPING_RADIUS``), metres.
MAPPING_RADIUS_M = 20.0


class VIRLDataNotFoundError(FileNotFoundError):
    """The authors' V-IRL files are not where they were said to be (the message says how to get them)."""


def data_help(looked_in: str) -> str:
    """The message of :class:`VIRLDataNotFoundError`: what is missing, where the data comes from, how to pass it."""
    return (
        f"V-IRL real route data not found ({looked_in}). The data is the Hugging Face dataset "
        f"{HF_DATASET}: download {ARCHIVES[0]} (NYC, 1,000 training routes) or {ARCHIVES[1]} (VLN-mini, "
        f"18 routes), unzip it, and pass the folder that holds {ROUTE_FILE}, {MAPPING_FILE} and "
        f"{VIEWS_DIR}/ as VIRLEnv(routes='real', data_dir=...) or load_real_routes(path), or set "
        f"${DATA_ENV_VAR}. Without it, use the generated routes: routes='train' or routes='vln_mini'."
    )


@dataclass(frozen=True)
class RealDataFiles:
    """Paths of one data folder.

    Attributes:
        root: the folder holding ``route_infos.json``.
        routes: ``route_infos.json``.
        mapping: ``gps_pano_mapping.pkl`` (``None`` if absent: language only).
        street_views: ``street_views/`` (``None`` if absent: language only).
    """

    root: Path
    routes: Path
    mapping: Path | None
    street_views: Path | None


def find_data(path: str | os.PathLike | None = None) -> RealDataFiles:
    """Locate the files under ``path`` (or ``$SFTRL_VIRL_DATA``): in it, or one or two folders down
    (an unzipped archive may add a folder level).

    Raises:
        VIRLDataNotFoundError: no path was given and the variable is unset, or no ``route_infos.json``.
    """
    if path is None:
        path = os.environ.get(DATA_ENV_VAR)
        if not path:
            raise VIRLDataNotFoundError(data_help(f"no path given and ${DATA_ENV_VAR} is not set"))
    base = Path(path).expanduser()
    if not base.is_dir():
        raise VIRLDataNotFoundError(data_help(f"{base} is not a folder"))
    candidates = [base, *sorted(p for p in base.iterdir() if p.is_dir())]
    candidates += [q for p in candidates[1:] for q in sorted(p.iterdir()) if q.is_dir()]
    for folder in candidates:
        if (folder / ROUTE_FILE).is_file():
            mapping, views = folder / MAPPING_FILE, folder / VIEWS_DIR
            return RealDataFiles(root=folder, routes=folder / ROUTE_FILE,
                                 mapping=mapping if mapping.is_file() else None,
                                 street_views=views if views.is_dir() else None)
    raise VIRLDataNotFoundError(data_help(f"no {ROUTE_FILE} in {base} or the folders below it"))


# ----------------------------------------------------------------------------------------------
# Parsing route_infos.json
# ----------------------------------------------------------------------------------------------

_PUNCTUATION = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                              "\u2014": "-", "\u00a0": " ", "\u2026": "..."})


def ascii_text(text: object) -> str:
    """``text`` folded to printable ASCII: typographic quotes and dashes mapped, accents dropped
    (``"Caf\u00e9"`` -> ``"Cafe"``), anything else removed."""
    folded = unicodedata.normalize("NFKD", str(text).translate(_PUNCTUATION))
    return "".join(c for c in folded if 32 <= ord(c) < 127)


def parse_milestones(text: str) -> list[dict[str, str]]:
    """The ``{...}`` blocks of a ``milestone_info`` string as dicts of strings (lenient, never raises).

    >>> parse_milestones('{\\n"landmarks": "A is on your left",\\n"to_next_intersection_heading": "90 (east)",\\n}')
    [{'landmarks': 'A is on your left', 'to_next_intersection_heading': '90 (east)'}]
    """
    blocks = []
    for raw in str(text).split("}"):
        body = raw.strip().lstrip("{").strip()
        if not body:
            continue
        block = {}
        for line in body.split("\n"):  # as the authors' parse_navigation_string (not splitlines)
            line = line.strip().rstrip(",")
            if ":" not in line:
                continue
            key, value = (part.strip().strip("\"'") for part in line.split(":", 1))
            block[key] = value
        if block:
            blocks.append(block)
    return blocks


def parse_heading(value: str) -> tuple[int, str]:
    """``'177 (south)'`` -> ``(177, 'south')``; the name is recomputed from the degrees if missing or unknown."""
    degrees_part, _, name_part = str(value).partition("(")
    degrees = int(round(float(degrees_part.strip()))) % 360
    name = name_part.split(")")[0].strip().lower()
    return degrees, name if name in COMPASS else compass_name(degrees)


def _landmark_name(phrase: str) -> str:
    """The name in ``"X is on your left"`` (the whole phrase if it has no ``" is on your"``)."""
    head, sep, _ = phrase.partition(" is on your")
    return head.strip() if sep else phrase.strip()


def route_from_authors(info: dict, index: int, *, city: str) -> Route:
    """One route of ``route_infos.json`` as a :class:`~sftrl_repro.games.virl.route.Route`.

    Positions are metres around the route's start. ``init_heading`` 0 or missing becomes ``None``
    (drawn per episode, as the authors do).

    Raises:
        ValueError: the route lacks a field the rail needs (the message names the route and field).
    """
    try:
        start = tuple(map(float, info["start_place"]["relocated_geocode"][:2]))
        ends = [tuple(map(float, g[:2])) for g in info["route_results"]["geocode_list"]]
        milestones = parse_milestones(info["milestone_info"])
        destination = ascii_text(info.get("dest_place", {}).get("name", ""))
        headings = [parse_heading(m["to_next_intersection_heading"]) for m in milestones]
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ValueError(f"{ROUTE_FILE}: route {index} is malformed ({type(err).__name__}: {err})") from err
    n_legs = min(len(ends), len(milestones))
    if n_legs == 0:
        raise ValueError(f"{ROUTE_FILE}: route {index} has no legs (empty geocode_list or milestone_info)")
    legs = []
    for k in range(n_legs):
        landmark = ascii_text(milestones[k].get("landmarks", ""))
        if landmark == NO_LANDMARK:  # the authors' own "nothing here" text
            landmark = ""
        legs.append(Leg(heading=headings[k][0], direction=headings[k][1], end=geocode_to_xy(ends[k], start),
                        landmark=landmark, landmark_name=_landmark_name(landmark), end_geocode=ends[k]))
    init = info.get("init_heading") or 0
    return Route(route_id=f"real-{index:04d}", city=city, start=(0.0, 0.0),
                 init_heading=int(init) % 360 if init else None, legs=tuple(legs),
                 destination=destination, start_geocode=start)


def load_route_infos(path: str | os.PathLike, *, city: str = "New York") -> tuple[Route, ...]:
    """The routes of a ``route_infos.json`` file, in file order.

    Raises:
        ValueError: the file is not ``[route_list, route_num]`` or a route is malformed.
    """
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not (isinstance(data, list) and len(data) >= 1 and isinstance(data[0], list)):
        raise ValueError(f"{path}: expected [route_list, route_num], got {type(data).__name__}")
    return tuple(route_from_authors(info, i, city=city) for i, info in enumerate(data[0]))


# ----------------------------------------------------------------------------------------------
# Panoramas
# ----------------------------------------------------------------------------------------------

class _MappingUnpickler(pickle.Unpickler):
    """Unpickles plain containers, numbers and strings only: a data file must not run code."""

    _ALLOWED = {("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "float", "int", "str")} | {
        ("collections", "OrderedDict"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{MAPPING_FILE} may only hold plain data, not {module}.{name}")


def load_pano_mapping(path: str | os.PathLike) -> dict[tuple[float, float], str]:
    """``gps_pano_mapping.pkl`` as ``{(lat, lng): pano_id}`` (restricted unpickling, see above)."""
    with open(path, "rb") as f:
        raw = _MappingUnpickler(f).load()
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of (lat, lng) -> pano id, got {type(raw).__name__}")
    return {(float(k[0]), float(k[1])): str(v) for k, v in raw.items()}


class PanoramaStore:
    """Nearest-panorama lookup and view cutting over ``street_views/``.

    Args:
        mapping: ``{(lat, lng): pano_id}``.
        street_views: the folder of ``<pano_id>.jpg`` and ``<pano_id>.metadata.json``.
        radius_m: forward points farther than this from every panorama are dropped.
    """

    def __init__(self, mapping: dict[tuple[float, float], str], street_views: Path,
                 radius_m: float = MAPPING_RADIUS_M):
        self.street_views = Path(street_views)
        self.radius_m = radius_m
        self._loaded: dict[str, tuple[np.ndarray, float]] = {}  # the most recently used panoramas
        self._ids = list(mapping.values())
        self._latlng = np.asarray(list(mapping.keys()), dtype=float).reshape(-1, 2)
        if not len(self._ids):
            raise ValueError(f"{MAPPING_FILE} is empty")

    def nearest(self, geocode: tuple[float, float]) -> tuple[tuple[float, float], str, float]:
        """The nearest panorama to ``geocode``: ``((lat, lng), pano_id, distance m)``."""
        lat0 = np.radians(geocode[0])
        dy = np.radians(self._latlng[:, 0] - geocode[0]) * 6_371_000.0
        dx = np.radians(self._latlng[:, 1] - geocode[1]) * np.cos(lat0) * 6_371_000.0
        dist = np.hypot(dx, dy)
        i = int(np.argmin(dist))
        return (float(self._latlng[i, 0]), float(self._latlng[i, 1])), self._ids[i], float(dist[i])

    def snapper(self, origin: tuple[float, float]):
        """A ``snap(geocode, required)`` for :func:`~sftrl_repro.games.virl.rail.build_rail` (metres around ``origin``)."""

        def snap(geocode, required):
            found, pano_id, dist = self.nearest(geocode)
            if not required and dist > self.radius_m:
                return None
            return geocode_to_xy(found, origin), found, pano_id

        return snap

    def load(self, pano_id: str) -> tuple[np.ndarray, float]:
        """``(panorama uint8 (H, W, 3), rotation degrees)`` of one panorama (the last 64 are kept in memory).

        Raises:
            VIRLDataNotFoundError: the ``.jpg`` is missing.
        """
        if pano_id in self._loaded:
            return self._loaded[pano_id]
        image_path = self.street_views / f"{pano_id}.jpg"
        if not image_path.is_file():
            raise VIRLDataNotFoundError(data_help(f"{image_path} is missing"))
        with Image.open(image_path) as image:
            panorama = np.asarray(image.convert("RGB"))
        meta_path = self.street_views / f"{pano_id}.metadata.json"
        rotation = 0.0
        if meta_path.is_file():
            with open(meta_path, encoding="utf-8") as f:
                rotation = float(json.load(f).get("rotation", 0.0))
        if len(self._loaded) >= 64:
            self._loaded.pop(next(iter(self._loaded)))  # forget the oldest
        self._loaded[pano_id] = (panorama, rotation)
        return panorama, rotation

    def views(self, pano_id: str, heading: float, size: int) -> list[np.ndarray]:
        """The 4 views (front, right, back, left) of a panorama when facing ``heading``."""
        panorama, rotation = self.load(pano_id)
        return [panorama_view(panorama, heading + offset, size, rotation=rotation) for offset in (0, 90, 180, 270)]


class RealRoutes(RouteSet):
    """Routes from the authors' files, with rails relocated to panoramas and views cut from them.

    Args:
        routes: the routes (:func:`load_route_infos`).
        panoramas: the panorama store, or ``None`` when the folder has no panoramas (language only).
        name: the set's name.
    """

    def __init__(self, routes, panoramas: PanoramaStore | None, name: str = "real"):
        self.routes = tuple(routes)
        self.panoramas = panoramas
        self.name = name

    def rail(self, route: Route, *, rng: np.random.Generator, **rail_kwargs):
        snap = self.panoramas.snapper(route.start_geocode) if self.panoramas is not None else None
        return build_rail(route, rng=rng, snap=snap, **rail_kwargs)

    def views(self, route: Route, point: RailPoint, size: int) -> list[np.ndarray]:
        if self.panoramas is None or point.pano_id is None:
            raise VIRLDataNotFoundError(data_help(f"vision needs {MAPPING_FILE} and {VIEWS_DIR}/"))
        return self.panoramas.views(point.pano_id, point.heading, size)


def load_real_routes(path: str | os.PathLike | None = None, *, city: str | None = None) -> RealRoutes:
    """Load the authors' routes (and panoramas when present) from a data folder.

    Args:
        path: the folder (see :func:`find_data`); default ``$SFTRL_VIRL_DATA``.
        city: a label for the routes (default: the folder's name).

    Raises:
        VIRLDataNotFoundError: the files are not there (the message says where the data comes from).
        ValueError: a file is malformed.
    """
    files = find_data(path)
    routes = load_route_infos(files.routes, city=city or files.root.name)
    panoramas = None
    if files.mapping is not None and files.street_views is not None:
        panoramas = PanoramaStore(load_pano_mapping(files.mapping), files.street_views)
    return RealRoutes(routes, panoramas, name=f"real:{files.root.name}")


# ----------------------------------------------------------------------------------------------
# Fixture: a small data folder in the authors' schema, from a generated city
# ----------------------------------------------------------------------------------------------

#: Where fixture geocodes are placed (Times Square), (lat, lng).
FIXTURE_ORIGIN = (40.7580, -73.9855)
#: The colour of each compass sector in fixture panoramas (north, northeast, ..., northwest).
SECTOR_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 30, 30), (240, 140, 0), (230, 220, 0), (40, 190, 40),
    (0, 170, 200), (30, 60, 230), (150, 40, 200), (230, 60, 160),
)


def _fixture_panorama(width: int, rotation: float) -> np.ndarray:
    """An equirectangular image whose columns are coloured by the compass sector they face."""
    cols = np.arange(width)
    headings = ((cols + 0.5) / width * 360.0 - rotation) % 360.0
    sectors = (np.floor(headings / 45.0 + 0.5).astype(int)) % 8
    row = np.asarray(SECTOR_COLORS, dtype=np.uint8)[sectors]
    return np.repeat(row[None, :, :], width // 2, axis=0)


def write_fixture(directory: str | os.PathLike, *, seed: int = 0, n_routes: int = 3, pano_width: int = 96,
                  pano_spacing_m: float = 15.0) -> Path:
    """Write a small data folder in the authors' schema from a generated city; returns its path.

    ``route_infos.json`` holds ``n_routes`` routes (with ``milestone_info`` blocks in the authors'
    format), ``gps_pano_mapping.pkl`` maps a panorama every ``pano_spacing_m`` metres along each leg,
    and each panorama is a ``pano_width`` x ``pano_width / 2`` JPEG whose columns are painted with
    :data:`SECTOR_COLORS` by the compass sector they face, with a random ``rotation`` in its metadata,
    so that a test can check that views are cut by heading.
    """
    root = Path(directory)
    city = generate_city(CityConfig(name="New York", seed=seed, n_routes=n_routes, tag="fixture", extent_m=800.0))
    rng = np.random.default_rng(seed)
    to_geo = functools.partial(xy_to_geocode, origin=FIXTURE_ORIGIN)
    route_list, mapping = [], {}
    for route in city.routes:
        blocks = []
        for k, leg in enumerate(route.legs):
            start = route.points[k]
            blocks.append("{\n"
                          f'"intersection_idx": "{k}",\n'
                          f'"landmarks": "{leg.landmark}",\n'
                          f'"distance": "{distance(start, leg.end):.0f} meters",\n'
                          f'"human_heading": "{leg.direction}",\n'
                          f'"to_next_intersection_heading": "{leg.heading} ({leg.direction})",\n'
                          "}\n")
            n = max(1, int(distance(start, leg.end) // pano_spacing_m))
            for j in range(n + 1):
                geocode = to_geo(lerp(start, leg.end, j / n))
                mapping.setdefault((round(geocode[0], 7), round(geocode[1], 7)), f"fx{len(mapping):05d}")
        destination = next(lm for lm in city.landmarks if lm.name == route.destination)
        route_list.append({
            "start_place": {"name": "start", "relocated_geocode": list(to_geo(route.start))},
            "init_heading": route.init_heading,
            "route_results": {
                "geocode_list": [list(to_geo(leg.end)) for leg in route.legs],
                "landmark_list": [{"name": leg.landmark_name, "geocode": list(to_geo(leg.end))} if leg.landmark_name
                                  else None for leg in route.legs[:-1]],
            },
            "dest_place": {"name": route.destination, "geocode": list(to_geo(destination.position))},
            "milestone_info": "".join(blocks),
        })
    write_json_atomic(root / ROUTE_FILE, [route_list, len(route_list)])
    write_bytes_atomic(root / MAPPING_FILE, pickle.dumps(mapping))
    views = root / VIEWS_DIR
    views.mkdir(parents=True, exist_ok=True)
    for (lat, lng), pano_id in mapping.items():
        rotation = float(rng.integers(0, 360))
        Image.fromarray(_fixture_panorama(pano_width, rotation)).save(views / f"{pano_id}.jpg", quality=95)
        (views / f"{pano_id}.metadata.json").write_text(
            json.dumps({"pano_id": pano_id, "lat": lat, "lng": lng, "rotation": rotation}))
    return root
