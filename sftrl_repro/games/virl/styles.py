"""Visual styles of the generated cities and of each landmark kind (colours are RGB 0-255).

Every city of the VLN-mini-like set has its own style, so evaluating a model trained on the New York
style on the others is a visual distribution shift, like the paper's NYC -> VLN-mini (the VLN-mini
New York routes share the training style, as the paper's share the training city).
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class CityStyle:
    """How a city's street views look.

    Attributes:
        sky: sky colour.
        ground: sidewalk / ground colour.
        road: asphalt colour.
        marking: lane-marking colour.
        buildings: palette of facade colours, picked per building.
        window: window colour.
        height: range of building heights, as a fraction of the view height above the horizon line.
        horizon: height of the horizon line, as a fraction of the view height from the top.
        trees: probability of a street tree in front of each generic building.
        foliage: colour of tree crowns.
    """

    sky: RGB
    ground: RGB
    road: RGB
    marking: RGB
    buildings: tuple[RGB, ...]
    window: RGB
    height: tuple[float, float]
    horizon: float = 0.5
    trees: float = 0.15
    foliage: RGB = (60, 120, 50)


STYLES: dict[str, CityStyle] = {
    "New York": CityStyle(
        sky=(176, 196, 222), ground=(150, 150, 150), road=(60, 60, 64), marking=(240, 200, 40),
        buildings=((150, 75, 60), (120, 110, 100), (170, 160, 150), (95, 85, 80), (185, 120, 90)),
        window=(40, 50, 70), height=(0.36, 0.48), trees=0.1),
    "Milan": CityStyle(
        sky=(190, 210, 235), ground=(200, 185, 160), road=(95, 88, 80), marking=(245, 245, 245),
        buildings=((214, 160, 90), (200, 120, 80), (230, 200, 150), (180, 140, 110)),
        window=(60, 90, 60), height=(0.2, 0.3), horizon=0.52, trees=0.05),
    "New Delhi": CityStyle(
        sky=(215, 205, 180), ground=(190, 160, 120), road=(110, 100, 90), marking=(245, 245, 245),
        buildings=((230, 220, 200), (200, 90, 70), (240, 230, 210), (170, 150, 120)),
        window=(80, 60, 50), height=(0.12, 0.24), horizon=0.55, trees=0.45, foliage=(90, 130, 60)),
    "Buenos Aires": CityStyle(
        sky=(160, 200, 240), ground=(180, 170, 160), road=(70, 70, 75), marking=(255, 255, 255),
        buildings=((240, 230, 210), (220, 200, 170), (120, 160, 190), (230, 150, 130)),
        window=(50, 50, 60), height=(0.25, 0.38), trees=0.5, foliage=(140, 110, 190)),
    "London": CityStyle(
        sky=(170, 175, 185), ground=(130, 130, 125), road=(50, 50, 55), marking=(250, 250, 250),
        buildings=((160, 70, 55), (200, 190, 170), (120, 100, 90), (180, 170, 150)),
        window=(230, 230, 235), height=(0.22, 0.32), trees=0.15),
    "Hong Kong": CityStyle(
        sky=(200, 215, 225), ground=(160, 160, 160), road=(45, 45, 50), marking=(250, 210, 0),
        buildings=((200, 205, 210), (150, 170, 180), (230, 225, 210), (100, 120, 140)),
        window=(70, 90, 110), height=(0.44, 0.5), horizon=0.58, trees=0.05),
    "Melbourne": CityStyle(
        sky=(120, 180, 235), ground=(170, 170, 160), road=(65, 65, 70), marking=(255, 255, 255),
        buildings=((190, 170, 140), (90, 110, 130), (200, 110, 60), (220, 215, 205)),
        window=(30, 40, 60), height=(0.25, 0.45), trees=0.5, foliage=(70, 110, 60)),
    "Lagos": CityStyle(
        sky=(230, 210, 160), ground=(180, 120, 80), road=(80, 75, 70), marking=(255, 230, 0),
        buildings=((235, 200, 80), (200, 220, 230), (220, 120, 90), (240, 240, 230)),
        window=(40, 60, 80), height=(0.15, 0.3), horizon=0.54, trees=0.3, foliage=(50, 140, 60)),
    "San Francisco": CityStyle(
        sky=(220, 225, 230), ground=(175, 175, 170), road=(75, 75, 80), marking=(255, 255, 255),
        buildings=((240, 190, 200), (180, 210, 190), (250, 230, 170), (170, 190, 230)),
        window=(255, 255, 255), height=(0.2, 0.3), horizon=0.45, trees=0.1),
}


@dataclass(frozen=True)
class KindStyle:
    """How one landmark kind looks.

    Attributes:
        facade: facade colour.
        sign: sign-board colour.
        text: lettering colour.
        feature: a distinctive detail: ``"awning"``, ``"columns"``, ``"cross"``, ``"marquee"``,
            ``"trees"``, ``"tower"``, ``"cart"`` or ``"plain"``.
        accent: colour of that detail.
    """

    facade: RGB
    sign: RGB
    text: RGB
    feature: str
    accent: RGB


KIND_STYLES: dict[str, KindStyle] = {
    "cafe": KindStyle((111, 78, 55), (240, 220, 180), (60, 35, 20), "awning", (235, 235, 225)),
    "restaurant": KindStyle((178, 34, 34), (255, 255, 255), (140, 20, 20), "awning", (250, 250, 250)),
    "bank": KindStyle((30, 60, 120), (212, 175, 55), (20, 30, 70), "columns", (225, 225, 230)),
    "pharmacy": KindStyle((235, 240, 235), (0, 140, 70), (255, 255, 255), "cross", (0, 170, 80)),
    "hotel": KindStyle((90, 40, 110), (212, 175, 55), (50, 20, 60), "tower", (240, 220, 140)),
    "park": KindStyle((70, 150, 60), (60, 100, 45), (255, 255, 255), "trees", (40, 110, 40)),
    "museum": KindStyle((215, 205, 185), (80, 60, 40), (255, 250, 240), "columns", (245, 240, 230)),
    "bookstore": KindStyle((0, 90, 90), (250, 240, 220), (0, 70, 70), "plain", (230, 200, 120)),
    "bakery": KindStyle((230, 170, 90), (120, 60, 20), (255, 240, 210), "awning", (245, 225, 200)),
    "supermarket": KindStyle((250, 140, 0), (255, 255, 255), (200, 80, 0), "cart", (30, 120, 200)),
    "cinema": KindStyle((25, 25, 30), (255, 215, 0), (25, 25, 30), "marquee", (255, 245, 180)),
    "school": KindStyle((200, 80, 40), (255, 255, 255), (150, 50, 20), "tower", (240, 240, 240)),
}
