"""Light, weather and road layouts of the demo's driving scenes."""

from __future__ import annotations

import math
from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Atmosphere:
    """How a time of day and a weather colour the picture.

    Haze (or darkness, at night) covers things with distance: `1 - exp(-depth / visibility)`
    of a colour is haze, so fog hides a car 60 m away and night leaves only what the
    headlights reach.
    """

    time_of_day: str
    weather: str
    sky: tuple[RGB, RGB, RGB]  # top of the picture, middle of the sky, horizon
    haze: RGB
    visibility: float
    light: tuple[float, float, float]

    @property
    def night(self) -> bool:
        return self.time_of_day == "night"

    @property
    def lights_on(self) -> bool:
        return self.time_of_day != "day" or self.weather == "fog"

    @property
    def rain(self) -> bool:
        return self.weather == "rain"

    def haze_alpha(self, depth: float) -> float:
        return 1.0 - math.exp(-max(depth, 0.0) / self.visibility)

    def shade(self, color: RGB, depth: float, factor: float = 1.0, emissive: bool = False) -> RGB:
        """`color` lit by the scene's light (unless it glows), then hazed at `depth`."""
        a = 1.0 - math.exp(-depth / self.visibility) if depth > 0.0 else 0.0
        keep = 1.0 - a
        lr, lg, lb = (
            (factor, factor, factor)
            if emissive
            else (self.light[0] * factor, self.light[1] * factor, self.light[2] * factor)
        )
        hr, hg, hb = self.haze
        return (
            min(int(color[0] * lr * keep + hr * a + 0.5), 255),
            min(int(color[1] * lg * keep + hg * a + 0.5), 255),
            min(int(color[2] * lb * keep + hb * a + 0.5), 255),
        )


_ATMOSPHERE_LIST = (
    Atmosphere(
        "day",
        "clear",
        ((64, 118, 196), (120, 165, 220), (196, 214, 232)),
        (196, 214, 232),
        700.0,
        (1.0, 1.0, 1.0),
    ),
    Atmosphere(
        "day",
        "rain",
        ((96, 100, 110), (130, 134, 142), (165, 168, 174)),
        (150, 153, 158),
        160.0,
        (0.72, 0.74, 0.78),
    ),
    Atmosphere(
        "day",
        "fog",
        ((178, 180, 184), (192, 194, 197), (202, 204, 206)),
        (200, 202, 204),
        45.0,
        (0.85, 0.86, 0.88),
    ),
    Atmosphere(
        "dusk",
        "clear",
        ((38, 46, 98), (166, 98, 104), (246, 168, 100)),
        (214, 150, 112),
        500.0,
        (0.78, 0.6, 0.52),
    ),
    Atmosphere(
        "dusk",
        "rain",
        ((44, 46, 62), (98, 86, 92), (150, 118, 104)),
        (120, 102, 96),
        140.0,
        (0.55, 0.48, 0.46),
    ),
    Atmosphere(
        "dusk",
        "fog",
        ((120, 112, 120), (160, 140, 136), (186, 164, 148)),
        (178, 158, 144),
        40.0,
        (0.66, 0.58, 0.54),
    ),
    Atmosphere(
        "night",
        "clear",
        ((4, 6, 16), (10, 14, 30), (26, 30, 48)),
        (8, 9, 14),
        40.0,
        (0.5, 0.5, 0.58),
    ),
    Atmosphere(
        "night",
        "rain",
        ((6, 6, 10), (12, 12, 18), (30, 30, 36)),
        (10, 10, 14),
        32.0,
        (0.42, 0.42, 0.48),
    ),
    Atmosphere(
        "night",
        "fog",
        ((40, 40, 44), (46, 46, 50), (52, 52, 56)),
        (40, 40, 44),
        25.0,
        (0.45, 0.45, 0.5),
    ),
)
ATMOSPHERES: dict[tuple[str, str], Atmosphere] = {
    (a.time_of_day, a.weather): a for a in _ATMOSPHERE_LIST
}

MATERIALS: dict[str, RGB] = {
    "asphalt": (84, 84, 88),
    "asphalt_light": (104, 103, 100),
    "shoulder": (96, 95, 92),
    "sidewalk": (158, 154, 146),
    "bike_lane": (140, 78, 68),
    "grass": (84, 116, 60),
    "pavement": (126, 124, 120),
    "marking": (226, 226, 222),
}


@dataclass(frozen=True)
class LaneLine:
    x: float
    style: str  # "dashed" or "solid"


@dataclass(frozen=True)
class TrafficLane:
    """A lane vehicles drive in: centre x, direction (+1 with the ego car, -1 oncoming)."""

    x: float
    direction: int
    speed_kmh: tuple[float, float]
    mix: tuple[tuple[str, float], ...]  # vehicle kind -> share


@dataclass(frozen=True)
class Layout:
    """The cross-section of one kind of road, in metres from the centre of the ego lane."""

    road_type: str
    surfaces: tuple[tuple[float, float, str], ...]  # (x from, x to, material)
    drivable: tuple[float, float]  # the asphalt cars may drive on
    lines: tuple[LaneLine, ...]
    lanes: tuple[TrafficLane, ...]
    sidewalks: tuple[tuple[float, float], ...] = ()
    bike_x: float | None = None
    parking: tuple[tuple[float, int], ...] = ()  # (x, heading) of rows of parked cars
    terrain: str = "grass"
    buildings: str | None = None  # "city" blocks or "houses"
    lamp_x: tuple[float, ...] = ()
    rail_x: tuple[float, ...] = ()
    tree_bands: tuple[tuple[float, float], ...] = ()


_CITY_MIX = (("car", 0.82), ("truck", 0.08), ("bus", 0.10))
_CITY_RIGHT_MIX = (("car", 0.6), ("truck", 0.2), ("bus", 0.2))
_HIGHWAY_MIX = (("car", 0.75), ("truck", 0.2), ("bus", 0.05))
_HIGHWAY_RIGHT_MIX = (("car", 0.35), ("truck", 0.55), ("bus", 0.10))
_CARS = (("car", 0.95), ("truck", 0.05))

LAYOUTS: dict[str, Layout] = {
    "urban": Layout(
        road_type="urban",
        surfaces=((-12.5, -8.75, "sidewalk"), (-8.75, 5.25, "asphalt"), (5.25, 9.0, "sidewalk")),
        drivable=(-8.75, 5.25),
        lines=(
            LaneLine(-8.75, "solid"),
            LaneLine(-5.25, "dashed"),
            LaneLine(-1.75, "solid"),
            LaneLine(1.75, "dashed"),
            LaneLine(5.25, "solid"),
        ),
        lanes=(
            TrafficLane(-7.0, -1, (35, 50), _CITY_MIX),
            TrafficLane(-3.5, -1, (35, 50), _CITY_MIX),
            TrafficLane(0.0, 1, (38, 48), _CITY_MIX),
            TrafficLane(3.3, 1, (15, 28), _CITY_RIGHT_MIX),
        ),
        sidewalks=((-12.0, -9.5), (6.0, 8.6)),
        bike_x=4.75,
        terrain="pavement",
        buildings="city",
        lamp_x=(-9.3, 5.8),
    ),
    "highway": Layout(
        road_type="highway",
        surfaces=(
            (-18.6, -6.3, "asphalt_light"),
            (-6.3, -5.6, "shoulder"),
            (-5.6, 5.25, "asphalt_light"),
            (5.25, 8.2, "shoulder"),
        ),
        drivable=(-5.6, 8.2),
        lines=(
            LaneLine(-5.25, "solid"),
            LaneLine(-1.75, "dashed"),
            LaneLine(1.75, "dashed"),
            LaneLine(5.25, "solid"),
        ),
        lanes=(
            TrafficLane(-3.5, 1, (112, 128), _HIGHWAY_MIX),
            TrafficLane(0.0, 1, (98, 106), _HIGHWAY_MIX),
            TrafficLane(3.5, 1, (80, 88), _HIGHWAY_RIGHT_MIX),
            TrafficLane(-9.1, -1, (100, 125), _HIGHWAY_MIX),
            TrafficLane(-12.6, -1, (95, 110), _HIGHWAY_MIX),
            TrafficLane(-16.1, -1, (80, 90), _HIGHWAY_RIGHT_MIX),
        ),
        terrain="grass",
        rail_x=(-5.95, 8.6),
        tree_bands=((14.0, 40.0), (-45.0, -24.0)),
    ),
    "residential": Layout(
        road_type="residential",
        surfaces=(
            (-9.7, -7.0, "sidewalk"),
            (-7.0, 1.6, "asphalt"),
            (1.6, 3.1, "bike_lane"),
            (3.1, 5.3, "asphalt"),
            (5.3, 8.0, "sidewalk"),
        ),
        drivable=(-7.0, 5.3),
        lines=(LaneLine(-1.6, "dashed"), LaneLine(1.6, "solid"), LaneLine(3.1, "dashed")),
        lanes=(TrafficLane(-3.2, -1, (22, 32), _CARS), TrafficLane(0.0, 1, (24, 30), _CARS)),
        sidewalks=((-9.4, -7.4), (5.6, 7.7)),
        bike_x=2.35,
        parking=((4.2, 1), (-5.9, -1)),
        terrain="grass",
        buildings="houses",
        lamp_x=(-7.4, 5.6),
        tree_bands=((9.0, 11.0), (-13.0, -10.5)),
    ),
}
