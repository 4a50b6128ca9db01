"""Draws one camera's picture of a demo frame and measures what it shows, for the labels.

Things are painted back to front. Alongside the picture, an id buffer gets each road user's
number (255 for scenery that hides things), so the labels know how much of each road user is
visible and whether something nearer cuts it into separate parts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from workbench.demo.backdrop import (
    draw_ground,
    drivable_polygons,
    haze_mask,
    lane_polylines,
    sky_and_terrain,
)
from workbench.demo.batch import Batch, place, visible_faces
from workbench.demo.environment import RGB, Atmosphere
from workbench.demo.geometry import (
    FOCAL,
    HEIGHT,
    HORIZON,
    WIDTH,
    Box,
    Camera,
    Point,
    bounds,
    box_area,
    clip_box,
    clip_to_image,
    on_screen,
)
from workbench.demo.models import (
    LAMP_COLORS,
    LAMP_OFFSETS,
    VEHICLES,
    Model,
    cyclist_parts,
    pedestrian_outline,
)
from workbench.demo.scenario import FPS, Actor, TrafficLight, Tree, World

SCENERY = 255  # id-buffer value of things that hide road users but are not labelled
_MAX_DEPTH = 230.0
# Thin things vanish sooner: a guard rail 100 m away is a pixel high.
_DRAW_DEPTH = {"rail": 100.0, "lamp": 160.0}
_ACTOR_DEPTH = 150.0  # road users further away are a few pixels: not drawn
# Beyond these depths a vehicle loses its wheels, windows and plates (not its lights), and a
# building its windows: they would be a pixel or two and cost as much as near ones.
_VEHICLE_DETAIL = 55.0
_BUILDING_DETAIL = 140.0
LABEL_DEPTH = 100.0  # road users further away are not measured, so never labelled
_MEASURED_HEIGHT = 8.0  # nor are those less than this many pixels tall
_TRUNK: RGB = (84, 64, 48)


# Buildings stand behind the pavement, so nothing on the road or the pavement is ever behind
# them: they are painted first. Painting them by depth among the rest would put a long block
# in front of a person standing before its far end.
_BACKGROUND_MODELS = ("building", "house")


@dataclass
class _Drawable:
    depth: float
    oid: int
    background: bool = False
    # (kind, points, fill, hides what is behind): an ellipse's points are two box corners.
    prims: list[tuple[str, Sequence[Point], RGB, bool]] = field(default_factory=list)
    glows: list[tuple[Point, float, RGB]] = field(default_factory=list)
    actor: Actor | None = None
    outline: list[Point] | None = None


@dataclass(frozen=True)
class Seen:
    """A road user as one camera saw it."""

    actor: Actor
    box: Box  # its whole extent, cut to the picture
    outline: list[Point] | None  # people: the silhouette, cut to the picture
    parts: list[Box]  # the separate visible parts when something nearer cuts it in two
    visibility: float  # the share of its pixels not hidden by nearer things
    truncated: bool
    depth: float


@dataclass(frozen=True)
class SeenLight:
    light: TrafficLight
    point: Point
    state: str
    depth: float


@dataclass
class Rendered:
    image: Image.Image
    seen: list[Seen]
    lights: list[SeenLight]
    lanes: list[tuple[str, list[Point]]]
    drivable: np.ndarray | None


class Renderer:
    """Renders every frame of one world through one camera."""

    def __init__(self, world: World, camera: Camera, seed: int) -> None:
        self.world = world
        self.camera = camera
        self.seed = seed
        rng = random.Random(f"{seed}:{world.spec.number}:{camera.name}")
        self.background = sky_and_terrain(world, camera, rng)
        self.haze_mask = haze_mask(world.atmosphere)
        self.haze = Image.new("RGB", (WIDTH, HEIGHT), world.atmosphere.haze)
        noise_rng = np.random.default_rng([seed, world.spec.number, len(camera.name)])
        self.grain = [_grain_image(noise_rng) for _ in range(3)]
        placed = [(model, 0.0, dz, 1) for model, dz in world.statics]
        placed += [(light.model, 0.0, light.z, 1) for light in world.lights]
        self.static_batch = place(placed)
        centres = np.array([_centre(model, dz) for model, _, dz, _ in placed]).reshape(-1, 3)
        self.static_centres, self.static_radius = centres[:, :2], centres[:, 2]
        self.static_reach = np.array([_DRAW_DEPTH.get(m.name, _MAX_DEPTH) for m, *_ in placed])
        self.static_background = [model.name in _BACKGROUND_MODELS for model, *_ in placed]
        first_light = len(world.statics)
        self.static_lights = {first_light + n: light for n, light in enumerate(world.lights)}
        self.rain = _rain_layers(rng) if world.atmosphere.rain else []

    def render(self, index: int, *, with_mask: bool = False) -> Rendered:
        world, camera = self.world, self.camera
        t, ego = index / FPS, world.ego_z[index]
        ground = self.background.copy()
        draw_ground(ground, world, camera, ego)
        image = Image.composite(self.haze, ground, self.haze_mask)
        ids = Image.new("L", (WIDTH, HEIGHT), 0)
        drawables = self._drawables(t, ego)
        drawables.sort(key=lambda d: (not d.background, -d.depth))
        draw, id_draw = ImageDraw.Draw(image, "RGBA"), ImageDraw.Draw(ids)
        # rank[id]: when a road user was painted; nothing painted later covers it if no later
        # id shows in its box. Scenery shares one id, so it always counts as later.
        rank = np.full(256, len(drawables) + 1, dtype=np.int64)
        rank[0] = -1
        for position, d in enumerate(drawables):
            _paint(draw, id_draw, d)
            if d.actor is not None:
                rank[d.oid] = position
        id_array = np.asarray(ids)
        self._glow(draw, id_array, drawables)
        if self.rain:
            image = Image.composite(
                self.rain[0], image, self.rain[1 + index % (len(self.rain) - 1)]
            )
        seen = [
            s
            for d in drawables
            if d.actor is not None and d.depth < LABEL_DEPTH
            if (s := _measure(d, id_array, rank))
        ]
        return Rendered(
            image=self._grain(image, index),
            seen=seen,
            lights=self._lights(t, ego),
            lanes=lane_polylines(world, camera, ego),
            drivable=self._drivable(ego, id_array) if with_mask else None,
        )

    # -- what to draw ----------------------------------------------------------------------
    def _drawables(self, t: float, ego: float) -> list[_Drawable]:
        cam = self.camera
        out = self._scenery(t, ego)
        for tree in self.world.trees:
            depth = cam.depth((tree.x, 0.0, tree.z), ego)
            if 1.0 < depth < _MAX_DEPTH:
                out.append(self._tree(tree, depth, ego))
        vehicles: list[tuple[Model, float, float, int]] = []
        owners: list[_Drawable] = []
        for oid, actor in enumerate(self.world.actors):
            x, z, travelled, crossing = actor.at(t)
            c = cam.to_camera((x, 0.0, z), ego)
            if c[2] > _ACTOR_DEPTH or c[2] < -8.0 or abs(c[0]) > 0.75 * max(c[2], 0.0) + 9.0:
                continue
            d = _Drawable(c[2], oid % 254 + 1, actor=actor)
            if actor.is_vehicle:
                vehicles.append((VEHICLES[actor.kind], x, z, actor.heading))
                owners.append(d)
            elif c[2] > 1.2:
                self._person(d, actor, x, z, travelled, crossing, ego)
            out.append(d)
        batch = place(vehicles)
        plain = np.array([d.depth > _VEHICLE_DETAIL for d in owners], dtype=bool)
        self._faces(batch, ego, owners, np.ones(len(owners), dtype=bool), plain)
        return [d for d in out if d.prims]

    def _scenery(self, t: float, ego: float) -> list[_Drawable]:
        """Buildings, poles, rails and traffic lights near enough and in view."""
        cam = self.camera
        cx, cz = self.static_centres[:, 0], self.static_centres[:, 1] - ego
        depth = cx * cam.sin + cz * cam.cos
        lateral = cx * cam.cos - cz * cam.sin
        radius = self.static_radius
        wanted = (depth > -radius) & (depth < self.static_reach)
        wanted &= np.abs(lateral) < 0.75 * np.maximum(depth, 0.0) + radius
        owners: list[_Drawable] = []
        out = []
        for i, (d_i, want) in enumerate(zip(depth.tolist(), wanted.tolist(), strict=True)):
            background = self.static_background[i]
            # Nothing is ever behind a building (see _BACKGROUND_MODELS): no id needed.
            d = _Drawable(d_i, 0 if background else SCENERY, background)
            owners.append(d)
            if want:
                out.append(d)
                light = self.static_lights.get(i)
                if light is not None:
                    self._lamps(d, light, t, ego)
        self._faces(self.static_batch, ego, owners, wanted, depth > _BUILDING_DETAIL)
        return out

    def _faces(
        self,
        batch: Batch,
        ego: float,
        owners: Sequence[_Drawable],
        wanted: np.ndarray,
        plain: np.ndarray,
    ) -> None:
        """Add the visible faces of a batch of placed models to their owners' drawables."""
        cam, atm = self.camera, self.world.atmosphere
        glowing = atm.lights_on
        shades: dict[tuple[int, RGB | None, float, bool], RGB] = {}
        for k, points in visible_faces(batch, cam, ego, wanted, plain, glowing):
            owner = int(batch.owner[k])
            d = owners[owner]
            q = batch.quads[k]
            if points is None:
                points = cam.polygon([tuple(c) for c in batch.corners[k].tolist()], ego)
                if len(points) < 3 or not on_screen(points):
                    continue
            paint = d.actor.color if d.actor is not None else (0, 0, 0)
            glow = q.glow and glowing
            key = (owner, q.color, q.light, glow)
            fill = shades.get(key)
            if fill is None:
                fill = shades[key] = atm.shade(q.color or paint, d.depth, q.light, emissive=glow)
            d.prims.append(("poly", points, fill, not q.decal))
            if glow:
                x0, y0, x1, y1 = bounds(points)
                radius = min(1.5 + 0.9 * max(x1 - x0, y1 - y0), 40.0)
                d.glows.append((((x0 + x1) / 2, (y0 + y1) / 2), radius, q.color or paint))

    def _person(
        self,
        d: _Drawable,
        actor: Actor,
        x: float,
        z: float,
        travelled: float,
        crossing: bool,
        ego: float,
    ) -> None:
        c = self.camera.to_camera((x, 0.0, z), ego)
        scale = FOCAL / c[2]
        u0, v0 = WIDTH / 2 + scale * c[0], HORIZON - scale * c[1]
        atm, depth = self.world.atmosphere, c[2]
        phase = travelled / 0.75 * math.pi
        # How much of a walker's side the camera sees decides how far the legs swing apart.
        view = math.atan2(c[0], c[2]) + math.radians(self.camera.yaw_deg)
        walking_across = crossing or actor.kind == "cyclist"
        side = abs(math.cos(view)) if walking_across else abs(math.sin(view))
        if actor.kind == "cyclist":
            _cyclist(d, actor, (u0, v0), scale, phase, atm)
            return
        size = scale * actor.height
        stride = 0.035 + 0.13 * side if travelled > 0 else 0.02
        outline, torso = pedestrian_outline(phase, stride, 1.0 - 0.35 * side)
        d.outline = [(u0 + size * px, v0 - size * py) for px, py in outline]
        d.prims.append(("poly", d.outline, atm.shade(actor.trousers, depth), True))
        torso_points = [(u0 + size * px, v0 - size * py) for px, py in torso]
        d.prims.append(("poly", torso_points, atm.shade(actor.color, depth), False))
        head = (u0, v0 - size * 0.925, size * 0.066)
        d.prims.append(("ellipse", _circle(*head), atm.shade(actor.skin, depth), False))
        hair = (
            head[0] - head[2],
            head[1] - head[2] * 1.05,
            head[0] + head[2],
            head[1] + head[2] * 0.2,
        )
        d.prims.append(("ellipse", [hair[:2], hair[2:]], atm.shade(actor.hair, depth), False))

    def _tree(self, tree: Tree, depth: float, ego: float) -> _Drawable:
        c = self.camera.to_camera((tree.x, 0.0, tree.z), ego)
        scale = FOCAL / c[2]
        u0, v0 = WIDTH / 2 + scale * c[0], HORIZON - scale * c[1]
        atm = self.world.atmosphere
        d = _Drawable(depth, SCENERY)
        half = 0.14 * scale
        top = v0 - scale * (tree.trunk + tree.crown * 0.5)
        d.prims.append(
            (
                "poly",
                [(u0 - half, v0), (u0 + half, v0), (u0 + half, top), (u0 - half, top)],
                atm.shade(_TRUNK, depth),
                True,
            )
        )
        cy = v0 - scale * (tree.trunk + tree.crown * 0.8)
        r = scale * tree.crown
        d.prims.append(
            (
                "ellipse",
                [(u0 - r, cy - r * 1.1), (u0 + r, cy + r * 1.1)],
                atm.shade(tree.color, depth),
                True,
            )
        )
        shade = atm.shade(tree.color, depth, 0.78)
        d.prims.append(
            ("ellipse", [(u0 - r * 0.3, cy - r * 0.2), (u0 + r * 0.9, cy + r)], shade, False)
        )
        return d

    def _lamps(self, d: _Drawable, light: TrafficLight, t: float, ego: float) -> None:
        hx, mount = light.housing
        if ego >= light.z - 0.16:
            return  # seen from behind: the lamps face the other way
        state = light.state(t)
        for name, offset in LAMP_OFFSETS.items():
            centre = self.camera.point((hx, mount + offset, light.z - 0.17), ego)
            if centre is None:
                continue
            r = FOCAL * 0.12 / max(d.depth, 0.5)
            lit = name == state
            fill = LAMP_COLORS[name] if lit else (44, 44, 40)
            d.prims.append(
                (
                    "ellipse",
                    _circle(centre[0], centre[1], r),
                    self.world.atmosphere.shade(fill, d.depth, emissive=lit),
                    False,
                )
            )
            if lit:
                d.glows.append((centre, 2.2 * r + 1.5, LAMP_COLORS[name]))

    # -- after drawing ---------------------------------------------------------------------
    def _glow(self, draw: ImageDraw.ImageDraw, ids: np.ndarray, drawables: list[_Drawable]) -> None:
        if not self.world.atmosphere.lights_on:
            return
        for d in drawables:
            for (x, y), r, (cr, cg, cb) in d.glows:
                ix, iy = int(x), int(y)
                if not (0 <= ix < WIDTH and 0 <= iy < HEIGHT) or ids[iy, ix] not in (
                    d.oid,
                    SCENERY,
                ):
                    continue
                fade = 1.0 - self.world.atmosphere.haze_alpha(d.depth) * 0.6
                draw.ellipse(_circle(x, y, r), fill=(cr, cg, cb, int(70 * fade)))
                # The core is the lamp's colour washed toward white: red stays red.
                core = ((cr + 255) // 2, (cg + 255) // 2, (cb + 255) // 2, int(150 * fade))
                draw.ellipse(_circle(x, y, r * 0.45), fill=core)

    def _lights(self, t: float, ego: float) -> list[SeenLight]:
        out = []
        for light in self.world.lights:
            hx, mount = light.housing
            centre_world = (hx, mount + 0.45, light.z - 0.16)
            depth = self.camera.depth(centre_world, ego)
            point = self.camera.point(centre_world, ego)
            if point is None or not 2.0 < depth < 90.0 or ego >= light.z:
                continue
            if 0 <= point[0] < WIDTH and 0 <= point[1] < HEIGHT:
                out.append(SeenLight(light, point, light.state(t), depth))
        return out

    def _drivable(self, ego: float, ids: np.ndarray) -> np.ndarray:
        mask = Image.new("L", (WIDTH, HEIGHT), 0)
        draw = ImageDraw.Draw(mask)
        for polygon in drivable_polygons(self.world, ego):
            points = self.camera.polygon(polygon, ego)
            if len(points) >= 3:
                draw.polygon(points, fill=1)
        # Road covered by a vehicle, a person or a pole is not free to drive on.
        return np.asarray(mask) & (ids == 0)

    def _grain(self, image: Image.Image, index: int) -> Image.Image:
        # Sensor noise: a flat picture compresses to nothing and looks drawn.
        return ImageChops.add(image, self.grain[index % len(self.grain)], 1.0, -128)


def _grain_image(rng: np.random.Generator) -> Image.Image:
    noise = np.clip(rng.normal(128.0, 2.2, size=(HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
    return Image.fromarray(noise, "L").convert("RGB")


def _cyclist(
    d: _Drawable, actor: Actor, feet: Point, scale: float, phase: float, atm: Atmosphere
) -> None:
    colors = {
        "wheel": (24, 24, 26),
        "legs": actor.trousers,
        "torso": actor.color,
        "arms": actor.color,
        "bars": (60, 60, 64),
    }
    u0, v0 = feet
    for name, shape in cyclist_parts(phase).items():
        points = [(u0 + scale * px, v0 - scale * py) for px, py in shape]
        d.prims.append(("poly", points, atm.shade(colors[name], d.depth), True))
    head = _circle(u0, v0 - scale * 1.56, 0.11 * scale)
    d.prims.append(("ellipse", head, atm.shade(actor.hair, d.depth), True))


def _centre(model: Model, dz: float) -> tuple[float, float, float]:
    """The middle of a model's footprint and the radius of a circle around it."""
    xs = [c[0] for part in model.parts for c in (part.lo, part.hi)]
    zs = [c[2] for part in model.parts for c in (part.lo, part.hi)]
    radius = math.hypot(max(xs) - min(xs), max(zs) - min(zs)) / 2
    return (min(xs) + max(xs)) / 2, dz + (min(zs) + max(zs)) / 2, radius + 1.0


def _circle(x: float, y: float, r: float) -> list[Point]:
    return [(x - r, y - r), (x + r, y + r)]


def _paint(draw: ImageDraw.ImageDraw, id_draw: ImageDraw.ImageDraw, d: _Drawable) -> None:
    # Nothing is measured beyond LABEL_DEPTH, so what lies further hides nothing that counts.
    hides = d.oid != 0 and d.depth < LABEL_DEPTH + 10.0
    for kind, coords, fill, solid in d.prims:
        solid = solid and hides
        if kind == "poly":
            draw.polygon(coords, fill=fill)
            if solid:
                id_draw.polygon(coords, fill=d.oid)
        elif coords[1][0] > coords[0][0] and coords[1][1] > coords[0][1]:
            draw.ellipse(coords, fill=fill)
            if solid:
                id_draw.ellipse(coords, fill=d.oid)


def _rain_layers(rng: random.Random, patterns: int = 5) -> list[Image.Image]:
    """[colour of the streaks, then masks of streaks]: frames take turns with the masks."""
    layers = [Image.new("RGB", (WIDTH, HEIGHT), (210, 214, 222))]
    for _ in range(patterns):
        mask = Image.new("L", (WIDTH, HEIGHT), 0)
        draw = ImageDraw.Draw(mask)
        for _ in range(240):
            x, y = rng.uniform(-30, WIDTH), rng.uniform(-20, HEIGHT)
            length = rng.uniform(8, 20)
            draw.line((x, y, x + 0.22 * length, y + length), fill=64, width=1)
        layers.append(mask)
    return layers


def _measure(d: _Drawable, ids: np.ndarray, rank: np.ndarray) -> Seen | None:
    """How much of a road user the picture shows, from the id buffer."""
    assert d.actor is not None
    points = [p for _, coords, _, solid in d.prims if solid for p in coords]
    if not points:
        return None
    full = bounds(points)
    box = clip_box(full)
    if box is None or box[3] - box[1] < _MEASURED_HEIGHT:
        return None
    x0, y0 = int(box[0]), int(box[1])
    x1, y1 = min(math.ceil(box[2]), WIDTH), min(math.ceil(box[3]), HEIGHT)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = ids[y0:y1, x0:x1]
    mine = crop == d.oid
    if rank[crop].max() <= rank[d.oid]:
        visibility = 1.0  # nothing painted later reaches into its box
    else:
        whole = _silhouette_pixels(d, x0, y0, x1, y1)
        visibility = min(int(np.count_nonzero(mine)) / whole, 1.0) if whole else 0.0
    parts = _parts(mine, x0, y0) if d.actor.is_vehicle and visibility < 0.97 else []
    outline = None
    if d.outline:
        outline = d.outline if box_area(box) == box_area(full) else clip_to_image(d.outline)
        if len(outline) < 3:
            return None
        # A person cut by the picture's edge: the box is that of the part inside.
        box = bounds(outline)
    return Seen(
        actor=d.actor,
        box=box,
        outline=outline,
        parts=parts,
        visibility=round(visibility, 3),
        truncated=box_area(box) < 0.97 * box_area(full),
        depth=d.depth,
    )


def _silhouette_pixels(d: _Drawable, x0: int, y0: int, x1: int, y1: int) -> int:
    """Pixels the road user would cover inside the picture if nothing were in front of it."""
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(mask)
    for kind, coords, _, solid in d.prims:
        if not solid:
            continue
        if kind == "poly":
            draw.polygon([(x - x0, y - y0) for x, y in coords], fill=1)
        else:
            (ex0, ey0), (ex1, ey1) = coords
            if ex1 > ex0 and ey1 > ey0:
                draw.ellipse((ex0 - x0, ey0 - y0, ex1 - x0, ey1 - y0), fill=1)
    return int(np.count_nonzero(np.asarray(mask)))


def _parts(mine: np.ndarray, x0: int, y0: int) -> list[Box]:
    """The boxes of two visible parts separated by a vertical strip of something nearer."""
    columns = mine.any(axis=0)
    runs: list[tuple[int, int]] = []
    start = None
    for i, filled in enumerate([*columns.tolist(), False]):
        if filled and start is None:
            start = i
        elif not filled and start is not None:
            if i - start >= 3:
                runs.append((start, i))
            start = None
    if len(runs) != 2 or runs[1][0] - runs[0][1] < 2:
        return []
    boxes = []
    for a, b in runs:
        rows = np.flatnonzero(mine[:, a:b].any(axis=1))
        boxes.append((float(x0 + a), float(y0 + rows[0]), float(x0 + b), float(y0 + rows[-1] + 1)))
    return boxes
