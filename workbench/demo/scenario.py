"""What happens in each demo sequence: the ego car's drive, traffic, people and scenery.

Everything is drawn from `random.Random` seeded with the demo seed and the context number, so
the same seed gives the same world.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from workbench.demo.environment import ATMOSPHERES, LAYOUTS, RGB, Atmosphere, Layout
from workbench.demo.models import (
    VEHICLE_SIZE,
    Model,
    Part,
    building,
    house,
    lamp_post,
    traffic_light_pole,
)

FPS = 10
# 2024-05-14 00:00 UTC: the demo drives happen on consecutive days from here.
EPOCH_MS = 1_715_644_800_000
_HOUR_MS = 3_600_000
_START_HOUR = {"day": 11.0, "dusk": 19.7, "night": 22.4}

PAINT: dict[str, RGB] = {
    "white": (232, 232, 230),
    "black": (28, 28, 32),
    "silver": (168, 172, 178),
    "grey": (104, 106, 112),
    "red": (172, 28, 26),
    "blue": (34, 66, 148),
    "green": (40, 96, 58),
    "yellow": (226, 182, 34),
}
_PAINT_WEIGHTS = {
    "white": 5,
    "black": 4,
    "silver": 4,
    "grey": 3,
    "red": 2,
    "blue": 2,
    "green": 1,
    "yellow": 1,
}
CLOTHES: dict[str, RGB] = {
    "red": (178, 40, 40),
    "blue": (44, 78, 160),
    "navy": (30, 36, 70),
    "black": (30, 30, 32),
    "white": (226, 226, 222),
    "grey": (120, 120, 124),
    "green": (52, 110, 62),
    "yellow": (222, 188, 52),
    "orange": (224, 118, 36),
    "beige": (196, 174, 134),
}
_TROUSERS: tuple[RGB, ...] = ((48, 66, 104), (34, 34, 38), (96, 96, 100), (170, 150, 112))
_SKIN: tuple[RGB, ...] = ((236, 200, 170), (200, 150, 110), (150, 100, 70), (96, 64, 44))
_HAIR: tuple[RGB, ...] = (
    (40, 30, 24),
    (90, 60, 30),
    (200, 170, 110),
    (30, 30, 30),
    (150, 150, 150),
)
_FACADES: tuple[RGB, ...] = (
    (214, 200, 172),
    (188, 186, 180),
    (168, 96, 72),
    (226, 222, 210),
    (206, 190, 130),
    (150, 160, 168),
)


@dataclass(frozen=True)
class ContextSpec:
    """One demo sequence: where, when, in what weather, how long, with which cameras."""

    number: int
    city: str
    road: str
    time_of_day: str
    weather: str
    frames: int
    speed_kmh: tuple[float, float]
    cameras: tuple[str, ...] = ("front",)
    intersections: tuple[float, ...] = ()
    stop_seconds: float = 0.0  # the ego car waits at a red light this long, then drives off
    plant: str | None = None  # the defect planted in this sequence, if any

    @property
    def context_id(self) -> str:
        return f"{self.city.lower()}-{self.number:04d}"


CONTEXTS: tuple[ContextSpec, ...] = (
    ContextSpec(
        1,
        "Berlin",
        "urban",
        "day",
        "clear",
        90,
        (40, 44),
        intersections=(78.0,),
        plant="missing_pedestrian",
    ),
    ContextSpec(
        2,
        "Hamburg",
        "urban",
        "dusk",
        "rain",
        80,
        (34, 36),
        intersections=(52.0,),
        plant="missing_car",
    ),
    ContextSpec(3, "Munich", "highway", "day", "fog", 100, (98, 102), plant="wrong_label"),
    ContextSpec(
        4,
        "Vienna",
        "urban",
        "night",
        "clear",
        70,
        (30, 34),
        intersections=(44.0,),
        plant="broken_image",
    ),
    ContextSpec(
        5, "Zurich", "urban", "day", "clear", 60, (0, 18), intersections=(10.0,), stop_seconds=4.0
    ),
    ContextSpec(
        6,
        "Lyon",
        "residential",
        "day",
        "rain",
        40,
        (24, 27),
        cameras=("front_left", "front", "front_right"),
    ),
    ContextSpec(7, "Milan", "highway", "night", "rain", 90, (88, 92)),
    ContextSpec(8, "Amsterdam", "residential", "dusk", "fog", 60, (22, 26)),
)
# The duplicated sequence: context 8 stored a second time under this number.
DUPLICATE_OF, DUPLICATE_NUMBER = 8, 9
BROKEN_FRAME = 33  # the frame of the "broken_image" sequence whose file is cut short

CAMERA_YAW: dict[str, float] = {"front_left": -55.0, "front": 0.0, "front_right": 55.0}


@dataclass
class Actor:
    """A moving (or parked) road user following a piecewise linear path of (t, x, z) keys."""

    track: int
    kind: str  # car, truck, bus, pedestrian, cyclist
    path: list[tuple[float, float, float]]
    heading: int = 1  # vehicles: +1 drives along +z, -1 oncoming
    color_name: str = ""
    color: RGB = (0, 0, 0)
    trousers: RGB = (0, 0, 0)
    skin: RGB = (0, 0, 0)
    hair: RGB = (0, 0, 0)
    height: float = 1.75
    _times: list[float] = field(default_factory=list, repr=False)
    _dist: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._times = [k[0] for k in self.path]
        self._dist = [0.0]
        for a, b in zip(self.path, self.path[1:], strict=False):
            self._dist.append(self._dist[-1] + math.hypot(b[1] - a[1], b[2] - a[2]))

    def at(self, t: float) -> tuple[float, float, float, bool]:
        """(x, z, distance travelled, moving across the road) at time t."""
        i = bisect.bisect_right(self._times, t) - 1
        if i < 0:
            _, x, z = self.path[0]
            return x, z, 0.0, False
        if i >= len(self.path) - 1:
            _, x, z = self.path[-1]
            return x, z, self._dist[-1], False
        (t0, x0, z0), (t1, x1, z1) = self.path[i], self.path[i + 1]
        f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
        x, z = x0 + f * (x1 - x0), z0 + f * (z1 - z0)
        crossing = abs(x1 - x0) > abs(z1 - z0)
        return x, z, self._dist[i] + f * (self._dist[i + 1] - self._dist[i]), crossing

    @property
    def is_vehicle(self) -> bool:
        return self.kind in VEHICLE_SIZE


@dataclass(frozen=True)
class TrafficLight:
    number: int
    model: Model
    z: float
    housing: tuple[float, float]  # (x, y) of the housing's lowest lamp
    schedule: tuple[tuple[float, str], ...]  # (until second, state)

    def state(self, t: float) -> str:
        for until, state in self.schedule:
            if t < until:
                return state
        return self.schedule[-1][1]


@dataclass(frozen=True)
class Tree:
    x: float
    z: float
    crown: float
    trunk: float
    color: RGB


@dataclass
class World:
    spec: ContextSpec
    layout: Layout
    atmosphere: Atmosphere
    ego_z: list[float]
    speed_kmh: list[float]
    timestamps: list[int]
    actors: list[Actor]
    statics: list[tuple[Model, float]]  # (model placed in world x, its z offset)
    trees: list[Tree]
    lights: list[TrafficLight]
    # Planted defects: track -> frame range where ground truth leaves it out / names it wrong.
    missing: dict[int, range] = field(default_factory=dict)
    mislabelled: dict[int, tuple[range, str]] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.spec.frames / FPS


def build_world(spec: ContextSpec, seed: int) -> World:
    rng = random.Random(seed * 1000 + spec.number)
    layout = LAYOUTS[spec.road]
    ego_z, speeds = _ego_drive(spec, rng)
    world = World(
        spec=spec,
        layout=layout,
        atmosphere=ATMOSPHERES[(spec.time_of_day, spec.weather)],
        ego_z=ego_z,
        speed_kmh=speeds,
        timestamps=_timestamps(spec, rng),
        actors=[],
        statics=[],
        trees=[],
        lights=[],
    )
    _add_traffic(world, rng)
    _add_people(world, rng)
    _add_scenery(world, rng)
    _plant(world, rng)
    return world


def _ego_drive(spec: ContextSpec, rng: random.Random) -> tuple[list[float], list[float]]:
    lo, hi = spec.speed_kmh
    wobble = rng.uniform(0, math.tau)
    z, zs, speeds = 0.0, [], []
    for i in range(spec.frames):
        t = i / FPS
        if t < spec.stop_seconds:
            kmh = 0.0
        elif spec.stop_seconds:
            kmh = min(hi, 7.2 * (t - spec.stop_seconds))  # 2 m/s2
        else:
            kmh = lo + (hi - lo) * t / (spec.frames / FPS) + 0.8 * math.sin(wobble + t)
        zs.append(z)
        speeds.append(round(kmh, 1))
        z += kmh / 3.6 / FPS
    return zs, speeds


def _timestamps(spec: ContextSpec, rng: random.Random) -> list[int]:
    start = EPOCH_MS + (spec.number - 1) * 24 * _HOUR_MS
    start += int((_START_HOUR[spec.time_of_day] + rng.uniform(0, 0.5)) * _HOUR_MS)
    return [start + i * 1000 // FPS + rng.randint(-4, 4) for i in range(spec.frames)]


def _pick(rng: random.Random, weights: Mapping[str, float] | tuple[tuple[str, float], ...]) -> str:
    items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
    return rng.choices([k for k, _ in items], [w for _, w in items])[0]


def _vehicle(
    track: int, kind: str, path: list[tuple[float, float, float]], heading: int, rng: random.Random
) -> Actor:
    name = _pick(rng, _PAINT_WEIGHTS)
    if kind == "bus":
        name = rng.choice(["yellow", "red", "white", "blue"])
    return Actor(track, kind, path, heading, name, PAINT[name])


def _add_traffic(world: World, rng: random.Random) -> None:
    """Vehicles in every lane, spaced so that none of them ever meet, moving at lane speed."""
    T = world.duration
    ego_end = world.ego_z[-1]
    for lane in world.layout.lanes:
        v = rng.uniform(*lane.speed_kmh) / 3.6 * lane.direction
        if world.spec.stop_seconds:
            _add_waiting_traffic(world, lane.x, lane.direction, rng)
            continue
        # Where a vehicle must start to be within 150 m of the ego car at some time.
        lo = min(0.0, ego_end - v * T) - 40.0
        hi = max(0.0, ego_end - v * T) + 170.0
        if lane.x == 0.0 and lane.direction == 1:
            # Never closer than 12 m ahead of the ego car in its own lane.
            lo = max(world.ego_z[i] - v * i / FPS for i in range(world.spec.frames)) + 12.0
        z = lo + rng.uniform(0, 20)
        while z < hi:
            kind = _pick(rng, lane.mix)
            path = [(0.0, lane.x, z), (T, lane.x, z + v * T)]
            world.actors.append(_vehicle(len(world.actors), kind, path, lane.direction, rng))
            # Room for the longest vehicle, so a car can later be swapped for a truck.
            z += rng.uniform(28, 60)
    for x, heading in world.layout.parking:
        z = rng.uniform(-20, 0)
        while z < ego_end + 140:
            if rng.random() < 0.55 and not _near_intersection(world, z, 12):
                path = [(0.0, x, z), (T, x, z)]
                world.actors.append(_vehicle(len(world.actors), "car", path, heading, rng))
            z += rng.uniform(5.5, 7.5)


def _add_waiting_traffic(world: World, x: float, direction: int, rng: random.Random) -> None:
    """At a red light: oncoming cars queue beyond the crossing and drive off at green."""
    if direction == 1:
        return
    go = world.spec.stop_seconds + 0.8
    T = world.duration
    far_side = world.spec.intersections[0] + 20.0
    z = far_side + (0.0 if x == -3.5 else 1.5)
    for k in range(4):
        kind = "bus" if (x != -3.5 and k == 1) else "car"
        v = 6.5
        path = [(0.0, x, z), (go, x, z), (T, x, z - v * (T - go))]
        world.actors.append(_vehicle(len(world.actors), kind, path, -1, rng))
        z += 7.0 if kind == "car" else 14.0


def _near_intersection(world: World, z: float, margin: float) -> bool:
    return any(zi - margin <= z <= zi + 18 + margin for zi in world.spec.intersections)


def _person(
    track: int, kind: str, path: list[tuple[float, float, float]], rng: random.Random
) -> Actor:
    shirt = rng.choice(sorted(CLOTHES))
    return Actor(
        track,
        kind,
        path,
        1,
        shirt,
        CLOTHES[shirt],
        rng.choice(_TROUSERS),
        rng.choice(_SKIN),
        rng.choice(_HAIR),
        rng.uniform(1.58, 1.92) if kind == "pedestrian" else 1.75,
    )


def _add_people(world: World, rng: random.Random) -> None:
    T = world.duration
    end = world.ego_z[-1]
    for x0, x1 in world.layout.sidewalks:
        count = int((end + 120) / (9 if world.layout.road_type == "urban" else 16))
        for _ in range(count):
            x = rng.uniform(x0, x1)
            z = rng.uniform(-10, end + 120)
            heading = rng.choice([-1, 1])
            speed = rng.uniform(1.1, 1.6) if rng.random() < 0.85 else 0.0
            path = [(0.0, x, z), (T, x, z + heading * speed * T)]
            world.actors.append(_person(len(world.actors), "pedestrian", path, rng))
    if world.layout.bike_x is not None:
        for _ in range(3 if world.layout.road_type == "urban" else 6):
            z = rng.uniform(5, end + 80)
            v = rng.uniform(4.0, 6.5)
            x = world.layout.bike_x
            path = [(0.0, x, z), (T, x, z + v * T)]
            world.actors.append(_person(len(world.actors), "cyclist", path, rng))
    if world.spec.stop_seconds:
        _add_crossing(world, rng)


def _add_crossing(world: World, rng: random.Random) -> None:
    """People cross both crosswalks while the ego car waits at red.

    Each walker is placed by when (`t_mid`) they pass a point of the road (`x_mid`). On the far
    crosswalk everyone has left the oncoming lanes before those cars drive off, and the first
    walker passes right in front of the first waiting car, cutting it into two visible parts.
    """
    zi = world.spec.intersections[0]
    x_left, x_right = world.layout.drivable
    a, b = x_left - 1.5, x_right + 1.5
    walks: list[tuple[float, float, float, bool]] = []  # z, x_mid, t_mid, rightwards
    for _ in range(4):
        walks.append(
            (zi - 2.0, rng.uniform(a + 2, b - 2), rng.uniform(-1.0, 5.0), rng.random() < 0.5)
        )
    for t_mid in (1.0, 2.2, -0.6):
        walks.append((zi + 16.0, -3.5, t_mid + rng.uniform(-0.2, 0.2), True))
    for z, x_mid, t_mid, rightwards in walks:
        speed = rng.uniform(1.3, 1.5)
        start, end = (a, b) if rightwards else (b, a)
        t0 = t_mid - abs(x_mid - start) / speed
        t1 = t_mid + abs(end - x_mid) / speed
        path = [(t0, start, z + rng.uniform(-0.6, 0.6)), (t1, end, z)]
        world.actors.append(_person(len(world.actors), "pedestrian", path, rng))


def _add_scenery(world: World, rng: random.Random) -> None:
    layout = world.layout
    z_from, z_to = -40.0, world.ego_z[-1] + 230.0
    if layout.buildings == "city":
        _blocks(world, rng, z_from, z_to, 9.3, 1)
        _blocks(world, rng, z_from, z_to, -12.8, -1)
    elif layout.buildings == "houses":
        _blocks(world, rng, z_from, z_to, 11.0, 1)
        _blocks(world, rng, z_from, z_to, -12.0, -1)
    for x in layout.lamp_x:
        z = z_from + rng.uniform(0, 30)
        while z < z_to:
            if not _near_intersection(world, z, 2):
                world.statics.append((lamp_post(x, -1.0 if x > 0 else 1.0), z))
            z += 32.0
    for x in layout.rail_x:
        z = z_from
        while z < z_to:
            # Short pieces, so that painting by depth puts each piece before or behind the
            # vehicles next to it correctly.
            rail = Part((x - 0.06, 0.45, 0.0), (x + 0.06, 0.8, 4.0), (168, 170, 168))
            world.statics.append((Model("rail", (rail,)), z))
            z += 4.0
    for x0, x1 in layout.tree_bands:
        for _ in range(int((z_to - z_from) / 9)):
            green = rng.choice([(60, 100, 48), (46, 86, 40), (78, 112, 52), (54, 92, 60)])
            world.trees.append(
                Tree(
                    rng.uniform(x0, x1),
                    rng.uniform(z_from, z_to),
                    rng.uniform(1.6, 3.4),
                    rng.uniform(1.6, 3.2),
                    green,
                )
            )
    _add_lights(world)


def _blocks(
    world: World, rng: random.Random, z_from: float, z_to: float, x_road: float, side: int
) -> None:
    """A row of buildings (or houses) with their face `x_road` toward the road."""
    city = world.layout.buildings == "city"
    z = z_from + rng.uniform(0, 6)
    while z < z_to:
        length = rng.uniform(12, 30) if city else rng.uniform(9, 13)
        blocked = [zi for zi in world.spec.intersections if z - 4 < zi + 18 and z + length > zi - 4]
        if blocked:
            z = blocked[0] + 22
            continue
        depth = rng.uniform(12, 20) if city else rng.uniform(8, 11)
        x0, x1 = (x_road, x_road + depth) if side > 0 else (x_road - depth, x_road)
        face = "left" if side > 0 else "right"
        color = rng.choice(_FACADES)
        if city:
            model = building(x0, x1, z, z + length, rng.uniform(10, 26), color, face)
        else:
            model = house(x0, x1, z, z + length, rng.uniform(5.5, 7.0), color, face)
        world.statics.append((model, 0.0))
        z += length + (rng.uniform(0, 3) if city else rng.uniform(5, 10))


def _add_lights(world: World) -> None:
    """Two lights per crossing facing the ego car: one over the road, one on the near corner."""
    right = world.layout.drivable[1]
    stop = world.spec.stop_seconds
    for zi in world.spec.intersections:
        if stop:
            schedule: tuple[tuple[float, str], ...] = ((stop - 0.2, "red"), (1e9, "green"))
        elif world.spec.time_of_day == "dusk":
            schedule = ((2.0, "red"), (1e9, "green"))
        else:
            schedule = ((1e9, "green"),)
        for pole_x, housing_x, mount, z in (
            (right + 0.8, 0.8, 5.0, zi + 16.0),
            (right + 0.6, right + 0.6, 2.4, zi - 3.0),
        ):
            model = traffic_light_pole(pole_x, housing_x, mount)
            world.lights.append(
                TrafficLight(len(world.lights), model, z, (housing_x, mount), schedule)
            )


def _plant(world: World, rng: random.Random) -> None:
    """Put this sequence's planted defect in place (see docs/demo.md)."""
    plant, T = world.spec.plant, world.duration
    if plant == "missing_pedestrian":
        # Walks toward the ego car on the left pavement, unlabelled for frames 30-55.
        z0 = world.ego_z[30] + 55.0 + 1.4 * 3.0
        path = [(0.0, -10.6, z0), (T, -10.6, z0 - 1.4 * T)]
        actor = _person(len(world.actors), "pedestrian", path, rng)
        # Walkers close by would let the miss pass for a second box of someone labelled.
        world.actors = [
            other
            for other in world.actors
            if other.kind != "pedestrian" or not _comes_near(other, actor, range(30, 56), 3.0)
        ]
        world.actors.append(actor)
        world.missing[actor.track] = range(30, 56)
    elif plant == "missing_car":
        # A slow car in the right lane the ego car overtakes, never labelled at all.
        car = _nearest(world, 3.3, 0.0, 30.0)
        car.kind = "car"
        world.missing[car.track] = range(world.spec.frames)
    elif plant == "wrong_label":
        # A truck in the right lane labelled "car" for frames 20-60.
        truck = _nearest(world, 3.5, 2.0, 40.0)
        truck.kind = "truck"
        world.mislabelled[truck.track] = (range(20, 61), "car")


def _comes_near(a: Actor, b: Actor, frames: range, metres: float) -> bool:
    for index in frames:
        ax, az, _, _ = a.at(index / FPS)
        bx, bz, _, _ = b.at(index / FPS)
        if math.hypot(ax - bx, az - bz) < metres:
            return True
    return False


def _nearest(world: World, lane_x: float, t: float, ahead: float) -> Actor:
    """The vehicle in lane `lane_x` closest to `ahead` metres in front of the ego car at t."""
    ego = world.ego_z[int(t * FPS)]
    lane = [a for a in world.actors if a.is_vehicle and a.path[0][1] == lane_x]
    return min(lane, key=lambda a: abs(a.at(t)[1] - ego - ahead))
