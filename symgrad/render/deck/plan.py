"""The deck plan: which blocks of the notes go on which frame, under which title, with which build.

Part of the slides (notes' document model -> **deck plan** -> slides writer). A section of the
notes is cut into *units*: the sentences that lead into a display together with it, a table with
the sentence that introduces it, a closing remark with what it closes. A unit never crosses a
frame, so no sentence does and no frame starts with a continuation. Units are packed into frames
by their height, and a new frame starts where a new idea does: the chain rule of the output layer,
each step of a hidden layer, the weight gradient of a layer, its bias gradient. Each frame is
titled by the idea of its first equation ("Output layer: the chain rule"); a derivation of
several rows is revealed one row per click (:class:`~symgrad.render.deck.frames.Build`), the
matrix of a weight gradient swaps from the partials to a column times a row to the outer product
(:class:`~symgrad.render.deck.frames.Swap`), and the summary and BP1-BP4 are key results
(:class:`~symgrad.render.deck.frames.Key`). Every step's reason stands beside its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from symgrad.render.deck.frames import (
    FRAME_POINTS,
    KEY_POINTS,
    WIDEST_BESIDE,
    Build,
    Frame,
    Item,
    Key,
    Swap,
    block_points,
    frame_points,
    widest,
)
from symgrad.render.document import (
    Block,
    Display,
    Graph,
    Heading,
    Row,
    Section,
    Text,
    printed_text,
)
from symgrad.render.formula import EMPTY

#: Steps that start a frame of their own (their keys without the layer): each is a new idea.
FRESH = frozenset(
    (
        "loss",
        "output-delta",
        "hidden-grad",
        "hidden-delta",
        "weight",
        "weight-matrix",
        "bias-vector",
    )
)

#: How far over a frame's height a unit may be estimated and still be tried on one frame (the
#: estimate of prose runs long; the compiled deck is checked for overfull frames).
PROSE_SLACK = 1.1
#: A display's estimate may run short: one that ends a unit is given a little less room; one
#: of spread rows (matrices, shapes under their factors) is counted generously, like prose.
DISPLAY_SLACK = 0.95


def slack_of(block: Block) -> float:
    """How far over a frame's height a unit ending with ``block`` may be estimated."""
    if isinstance(block, Display) and not block.spread:
        return DISPLAY_SLACK
    return PROSE_SLACK


#: The tallest two forms of a weight gradient shown together in its build (points).
SWAP_POINTS = 130.0

#: The title of a frame by its first equation (its step's key, without the layer).
IDEAS = {
    "loss": "The loss and its slope",
    "output-loss-slope": "The slope of the loss",
    "output-delta": "Output layer: the chain rule",
    "output-delta-vector": "Output layer: every unit at once",
    "hidden-grad": "Hidden layer {k}: the gradient from the layer above",
    "hidden-grad-vector": "Hidden layer {k}: the gradient from the layer above",
    "hidden-delta": "Hidden layer {k}: back through the activation",
    "hidden-delta-vector": "Hidden layer {k}: back through the activation",
    "weight": "Layer {k}: the partials of one weight and one bias",
    "weight-matrix": "Layer {k}: the weight gradient is an outer product",
    "bias": "Layer {k}: the bias gradient",
    "bias-vector": "Layer {k}: the bias gradient",
    "batch-forward": "A mini-batch: the forward pass",
    "batch-output-delta": "A mini-batch: the gradients, layer by layer",
}

#: Key results, by the kind of their displays in the notes: the titles of their blocks, in order.
KEYS = {
    "summary": ("The forward pass, keeping every activation", "The backward pass"),
    "general": ("Backpropagation in four equations",),
}


def first_key(blocks: Iterable[Item]) -> str:
    """The step key of the first numbered row among ``blocks`` ("" when there is none)."""
    for block in blocks:
        display = block.display if isinstance(block, Build) else block
        if isinstance(block, Swap):
            display = block.displays[-1]
        if isinstance(display, Display):
            for row in display.rows:
                if row.key and row.number:
                    return row.key
    return ""


def kind_of(key: str) -> tuple[str, str]:
    """``("weight-matrix", "2")`` for the step key ``weight-matrix-2``; ``("loss", "")``."""
    name, _, layer = key.rpartition("-")
    return (name, layer) if layer.isdigit() else (key, "")


def idea(key: str) -> str:
    """The title of a frame whose first equation is the step ``key`` ("" for none known)."""
    name, layer = kind_of(key)
    return IDEAS[name].format(k=layer) if name in IDEAS else ""


def compact(blocks: Iterable[Item]) -> bool:
    """Whether the first numbered row among ``blocks`` states a step as the one written in
    full ("as (13)"): layers stated compactly are titled by their heading."""
    for block in blocks:
        if isinstance(block, Display):
            for row in block.rows:
                if row.key and row.number:
                    return str(row.note).startswith("as ")
    return False


def units(blocks: Sequence[Block]) -> list[list[Block]]:
    """``blocks`` in units that stay on one frame: sentences with the display (or table, or
    list) they lead into; a paragraph that leads into nothing goes with what it follows. A
    heading is a unit of its own."""
    found: list[list[Block]] = []
    leading: list[Block] = []
    for n, block in enumerate(blocks):
        after = blocks[n + 1] if n + 1 < len(blocks) else None
        if isinstance(block, Heading):
            found.append([block])
        elif isinstance(block, Text):
            last = found[-1] if found else []
            leads = after is not None and not isinstance(after, Text | Heading)
            closes = not leads and not leading and last and not isinstance(last[0], Heading)
            if closes:
                last.append(block)
            else:
                leading.append(block)
        else:
            found.append([*leading, block])
            leading = []
    # paragraphs that lead into nothing (a section of prose): each a unit of its own
    found += [[text] for text in leading]
    return found


def fitted(found: list[list[Block]], section: str) -> list[list[Block]]:
    """The units, each too tall for a frame made to fit: the paragraphs that close it go on as
    a unit of their own, and a display too tall (with the sentences that lead into it) is cut
    between rows; a piece that would open with ``= ...`` opens with the left-hand side again
    (each form equals it), so no frame starts with "="."""
    out: list[list[Block]] = []
    for unit in found:
        shown = [built(b, section) for b in unit]
        # prose is counted generously: a little over may fit
        slack = slack_of(unit[-1])
        if frame_points(shown) <= FRAME_POINTS * slack or isinstance(shown[-1], Swap):
            out.append(unit)
            continue
        cut = max((n for n, b in enumerate(unit) if not isinstance(b, Text)), default=len(unit))
        unit, closing = unit[: cut + 1], unit[cut + 1 :]
        last = unit[-1]
        whole = [*unit[:-1], built(last, section)]
        if not isinstance(last, Display) or frame_points(whole) <= FRAME_POINTS * slack_of(last):
            out += [unit, closing] if closing else [unit]
            continue
        lead = unit[:-1]
        # a little room to spare: a display's estimate may run short
        full = 0.97 * FRAME_POINTS - (KEY_POINTS if last.kind in KEYS else 0.0)
        room = full - frame_points(lead)
        rows = list(last.rows)
        left = rows[0].left
        pieces: list[list[Row]] = [[]]
        for row in rows:
            trial = replace(last, rows=tuple([*pieces[-1], row]))
            if pieces[-1] and block_points(trial) > room:
                pieces.append([])
                room = full
            if not pieces[-1] and row.left == EMPTY:
                row = replace(row, left=left)
            pieces[-1].append(row)
        out.append([*lead, replace(last, rows=tuple(pieces[0]))])
        out += [[replace(last, rows=tuple(piece))] for piece in pieces[1:]]
        out += [closing] if closing else []
    return out


def partials_first(found: list[list[Block]]) -> list[list[Block]]:
    """The units with a bias's partial moved before the weight matrix it follows: the
    partials of one weight and one bias share a frame, then the matrices are built."""
    ordered = list(found)
    for n in range(1, len(ordered)):
        previous, unit = kind_of(first_key(ordered[n - 1]))[0], kind_of(first_key(ordered[n]))[0]
        if previous == "weight-matrix" and unit == "bias":
            ordered[n - 1], ordered[n] = ordered[n], ordered[n - 1]
    return ordered


def built(block: Block, section: str, keys: int = 0) -> Item:
    """A block as it is shown on a frame: a derivation row by row, a weight gradient's matrix
    swapped form by form, a key result (of the summary, of BP1-BP4) highlighted, titled as the
    ``keys``-th of its section; else as it is."""
    if not isinstance(block, Display):
        return block
    # every reason beside its row, unless a row leaves it no room at all (a formula of a long
    # custom activation): then each reason of that display on a line below its row
    below = widest(block) > WIDEST_BESIDE
    rows = [replace(r, note_below=below and bool(r.note)) for r in block.rows]
    block = replace(block, rows=tuple(rows))
    if block.kind in KEYS and section == block.kind:
        titles = KEYS[block.kind]
        return Key(titles[min(keys, len(titles) - 1)], (block,))
    if len(rows) == 4 and rows[-1].key.startswith("weight-matrix-") and rows[0].note:
        return swapped(block)
    if len(rows) > 1 and all(r.note for r in rows) and not rows[0].number:
        return Build(block)
    return block


def swapped(display: Display) -> Swap:
    """``grad_W = [partials]``, then ``= [formula applied]``, then ``= a column times a row``,
    then ``= the outer product``: two forms at a time, each slide opening with the gradient, so
    the matrix written out gives way to the product it is."""
    rows = display.rows
    left = rows[0].left

    def pair(first: Row, second: Row | None) -> Display:
        opened = replace(first, left=left)
        shown = (opened,) if second is None else (opened, replace(second, left=EMPTY))
        return replace(display, rows=shown)

    shown = (pair(rows[0], None), pair(rows[0], rows[1]), pair(rows[1], rows[2]))
    if max(block_points(d) for d in shown) > SWAP_POINTS:
        # a matrix too tall to be written twice: one form a slide
        shown = (pair(rows[0], None), pair(rows[1], None), pair(rows[2], None))
    last = pair(rows[2], rows[3])
    if block_points(last) > SWAP_POINTS:
        last = pair(rows[3], None)
    return Swap((*shown, last))


def pack(title: str, blocks: Sequence[Block], section: str) -> list[Frame]:
    """The blocks of one section on frames: unit by unit, a new frame where a unit does not
    fit, where a heading is or where a new idea starts; each frame titled by its idea."""
    frames: list[Frame] = []
    current: list[Item] = []
    heading = title
    keys = 0

    def close() -> None:
        if current:
            named = "" if compact(current) else idea(first_key(current))
            frames.append(Frame(named or heading, tuple(current), section))
            current.clear()

    for unit in fitted(partials_first(units(blocks)), section):
        if isinstance(unit[0], Heading):
            close()
            heading = printed_text(unit[0].title)
            continue
        items = [built(b, section, keys) for b in unit]
        keys += sum(isinstance(item, Key) for item in items)
        fresh = kind_of(first_key(items))[0] in FRESH and not compact(items)
        full = frame_points(current) + frame_points(items) > FRAME_POINTS
        if continues(items):
            # a sentence that goes on from the frame before stays with it where it can
            fresh, full = (
                False,
                frame_points(current) + frame_points(items) > PROSE_SLACK * FRAME_POINTS,
            )
            if full or not current:
                items = [capitalised(items[0]), *items[1:]]
        if current and (fresh or full):
            # what closes the frame before goes on the next, rather than over its bottom
            closing: list[Item] = []
            while (
                current and frame_points(current) > FRAME_POINTS and isinstance(current[-1], Text)
            ):
                closing.insert(0, current.pop())
            close()
            current.extend(closing)
        current.extend(items)
    close()
    return frames


def continues(items: Sequence[Item]) -> bool:
    """Whether ``items`` open with a sentence that goes on from the one before ("so the bias
    gradient is", "and in matrix form"): lower case."""
    first = items[0] if items else None
    return isinstance(first, Text) and str(first.text)[:1].islower()


def capitalised(item: Item) -> Item:
    """A sentence that must open a frame, with a capital."""
    assert isinstance(item, Text)
    text = str(item.text)
    return replace(item, text=text[:1].upper() + text[1:])


def light(frame: Frame) -> bool:
    """A frame filled less than about a third (a title's worth of room not counted)."""
    return frame_points(frame.blocks) < 0.4 * FRAME_POINTS


def merged(frames: list[Frame]) -> list[Frame]:
    """Light frames joined to the frame before them on the same idea (or, with no idea of
    their own, in the same section), where both fit."""
    out: list[Frame] = []
    for frame in frames:
        # the same idea, or a light frame of no idea of its own after one of its section
        same = out and out[-1].title == frame.title
        follows = out and out[-1].section == frame.section and not idea(first_key(frame.blocks))
        if (same and (light(frame) or light(out[-1]))) or (follows and light(frame)):
            both = (*out[-1].blocks, *frame.blocks)
            swaps = sum(isinstance(b, Swap) for b in both)
            if frame_points(both) <= FRAME_POINTS and swaps <= 1:
                out[-1] = replace(out[-1], blocks=both)
                continue
        out.append(frame)
    return out


def forward(frames: list[Frame]) -> list[Frame]:
    """A light frame of prose alone (a remark that closed a full frame) joined to the frame
    after it in the same section, where both fit."""
    out: list[Frame] = []
    for frame in reversed(frames):
        prose = all(isinstance(b, Text) for b in frame.blocks)
        if out and prose and light(frame) and out[-1].section == frame.section:
            both = (*frame.blocks, *out[-1].blocks)
            if frame_points(both) <= FRAME_POINTS:
                out[-1] = replace(out[-1], blocks=both)
                continue
        out.append(frame)
    return out[::-1]


def section_frames(section: Section, graphs: bool = True) -> list[Frame]:
    """The frames of one section of the notes; its graph of symbols on a frame of its own
    (with ``graphs``: the worked example draws it with numbers instead)."""
    blocks = [b for b in section.blocks if not isinstance(b, Graph)]
    frames = forward(merged(pack(section.title, blocks, section.id)))
    for graph in (b for b in section.blocks if isinstance(b, Graph) and graphs):
        if block_points(graph) <= FRAME_POINTS:
            frames.append(Frame("The computational graph", (graph,), section.id))
    return frames
