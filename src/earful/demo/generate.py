"""A seeded generator of a realistic demo corpus in Earful's JSONL post schema.

Three made-up brands; customers complain, ask, praise, mention a brand without tagging it
(or misspell it), reply in threads that the brand answers, and one evening a negative
burst spreads (an outage). Same seed, same bytes.

``anchor`` (``earful demo`` passes the moment it starts) moves the whole corpus in time so
that its newest post is a few minutes old: the inbox's clocks, ETAs and the dashboard
then look like a live desk. The move is a whole number of spike-detector windows (15
minutes), so every post keeps its place in its window and the loaded desk (conversations,
statuses, alerts) is the same whenever the demo starts; only the times differ.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

START = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)
# With an anchor: the newest post is this old, plus up to one STEP (the move is whole STEPs).
LEAD = timedelta(minutes=2)
STEP = timedelta(minutes=15)  # the spike detector's window (earful.alerts.spikes)
NETWORKS = ("bluesky", "mastodon", "x", "reddit")


@dataclass(frozen=True)
class DemoBrand:
    slug: str
    name: str
    keywords: tuple[str, ...]
    handle: str
    misspellings: tuple[str, ...]
    products: tuple[str, ...]
    complaints: tuple[str, ...]
    questions: tuple[str, ...]
    compliments: tuple[str, ...]
    outage: tuple[str, ...]
    agent_replies: tuple[str, ...]


BRANDS = (
    DemoBrand(
        slug="skyward",
        name="Skyward Air",
        keywords=("Skyward Air", "Skyward", "#flyskyward"),
        handle="SkywardAir",
        misspellings=("Skyword Air", "Skywrd", "skyward airlines"),
        products=("flight {n}", "the app", "SkyMiles", "my boarding pass", "the lounge"),
        complaints=(
            "{b} lost my bag on {p} and nobody answers the phone. Third day without clothes.",
            "Sat on the tarmac for 3 hours with {b}, no water, no updates. Never again.",
            "{b} charged me twice for {p}. I want my money back NOW.",
            "{p} cancelled last minute by {b} and the rebooking is 2 days later?? unacceptable",
            "Worst customer service ever from {b}. Been on hold 90 minutes about {p}.",
            "{b} downgraded my seat without asking. Paid for extra legroom on {p}.",
        ),
        questions=(
            "Does {b} allow pets in the cabin on {p}?",
            "How do I add a bag to {p} after booking with {b}?",
            "Can I change the name on my {b} ticket? Typo in {p}",
            "Is there wifi on {p}? {b}",
            "When does check-in open for {p} with {b}?",
        ),
        compliments=(
            "Shoutout to the crew of {p}, {b} you were amazing today!",
            "{b} upgraded me for my birthday 🎂 best airline, thank you!",
            "Smoothest flight ever with {b}. Landed early too!",
            "The {b} gate agent in Denver saved my trip. Thank you Maria!",
        ),
        outage=(
            "{b} app is down and I can't check in for {p}!!",
            "Is the {b} website broken? Can't load my booking",
            "{b} check-in completely down, huge lines at the airport, missing my flight",
            "Hundreds of people stuck at the {b} counter, system outage. Chaos.",
            "@{h} your app crashed and my boarding pass is gone. Flight in 40 min!!",
        ),
        agent_replies=(
            "We're so sorry about this. Please DM us your booking reference and we'll look into it right away.",
            "Thanks for reaching out! Yes, small pets are welcome in the cabin — details are in Manage Booking.",
            "That's not the experience we want for you. A teammate is checking now.",
        ),
    ),
    DemoBrand(
        slug="brightline",
        name="Brightline Mobile",
        keywords=("Brightline Mobile", "Brightline", "#brightlinemobile"),
        handle="BrightlineHelp",
        misspellings=("Brightlin", "Bright line mobile", "brite line"),
        products=("my 5G plan", "the eSIM", "roaming", "my bill", "the Pixel I ordered"),
        complaints=(
            "{b} has had no signal in my area for 2 days. Paying for nothing.",
            "{b} billed me for roaming I never used. Disputing {p}.",
            "My {p} from {b} still hasn't arrived, order says shipped 10 days ago",
            "Trying to cancel {b} is a nightmare. Switching to another carrier this week.",
            "{b} support hung up on me twice about {p}. Ridiculous.",
        ),
        questions=(
            "Does {b} support eSIM on the iPhone 16?",
            "How do I turn on wifi calling with {b}?",
            "Is {p} included in the unlimited plan? {b}",
            "What's the {b} number for international support?",
        ),
        compliments=(
            "{b} fixed my {p} issue in five minutes on chat. Impressed!",
            "Switched to {b} last month and the coverage is great 👏",
            "Thank you {b} for the free upgrade!",
        ),
        outage=(
            "{b} network is down everywhere? No calls no data",
            "Is {b} having an outage? SOS only on my phone",
        ),
        agent_replies=(
            "Sorry for the trouble! Could you DM us your postcode so we can check the network near you?",
            "Yes! eSIM works on that model — the setup guide is in your account.",
        ),
    ),
    DemoBrand(
        slug="loafladle",
        name="Loaf & Ladle",
        keywords=("Loaf & Ladle", "Loaf and Ladle", "#loafandladle"),
        handle="LoafAndLadle",
        misspellings=("Loaf n Ladle", "loaf&ladel"),
        products=("my order", "the soup of the day", "delivery", "the sourdough", "my refund"),
        complaints=(
            "{b} delivered {p} cold and an hour late. Not paying for this.",
            "Found a hair in {p} from {b}. Disgusting.",
            "Got food poisoning after eating {p} from {b}, was up all night",
            "{b} forgot half of {p} again. Third time this month.",
        ),
        questions=(
            "Does {b} have gluten free options?",
            "What time does {b} stop delivering on Sundays?",
            "Can I pick up {p} instead of delivery? {b}",
        ),
        compliments=(
            "The sourdough at {b} is unreal. Best bread in town!",
            "{b} tomato soup got me through this cold 🍅❤️",
            "Thanks {b} for the surprise cookie in {p}!",
        ),
        outage=("{b} ordering page is broken, can't pay",),
        agent_replies=(
            "We're really sorry. Please DM us your order number and we'll make it right.",
            "Yes — look for the GF tag on the menu. Enjoy!",
        ),
    ),
)

NOISE = (
    "Apple pie recipe for the weekend, so good",
    "Watching the sky, the light is bright tonight",
    "Anyone else think Mondays should be illegal?",
    "Loaf of bread and a ladle of soup is all I need",
    "New blog post about my trip to Lisbon",
    "The skyward view from the mountain top was breathtaking",
)
FOLLOWUPS = (
    "Still waiting for an answer…",
    "DM sent, booking ref in there",
    "Thanks, that worked!",
    "This is the third time I've asked. Hello??",
    "ok I'll try that, thanks",
)
FIRST = ("alex", "sam", "jo", "kim", "lee", "max", "ria", "tom", "ana", "ben", "cy", "dee")
LAST = ("r", "_k", "99", "writes", "travels", "_dev", "photo", "x", "mtl", "nyc")


def _author(rng: random.Random, network: str) -> dict[str, str]:
    handle = rng.choice(FIRST) + rng.choice(LAST) + str(rng.randint(1, 999))
    ident = {"bluesky": "did:plc:", "mastodon": "", "x": "", "reddit": "t2_"}[network]
    return {"id": ident + handle, "handle": handle, "name": handle.title()}


def _mention(rng: random.Random, brand: DemoBrand) -> str:
    roll = rng.random()
    if roll < 0.45:
        return "@" + brand.handle
    if roll < 0.80:
        return brand.name
    if roll < 0.92:
        return rng.choice(brand.misspellings)
    return brand.keywords[-1]


def generate(
    seed: int = 7, posts: int = 3000, anchor: datetime | None = None, team: bool = False
) -> Iterator[dict[str, Any]]:
    """The corpus, in order. Without ``anchor`` it starts at :data:`START`; with one, the
    same posts are moved so the newest is :data:`LEAD` to ``LEAD + STEP`` before it.

    ``team`` adds the brands' answers a working support team would have given: every
    mention older than about two hours is answered, so the desk opens on a backlog of
    the last hours, not on two days of silence (the demo uses it; the rest of the corpus
    is the same posts in the same order)."""
    docs = list(_timeline(seed, posts))
    if team:
        docs += list(_team_answers(docs, seed))
    shift = timedelta(0)
    if anchor is not None:
        newest = max(doc["created_at"] for doc in docs)
        shift = STEP * ((anchor - LEAD - newest) // STEP)  # floored: never in the future
    for doc in docs:
        yield _dated(doc, shift)


def _team_answers(docs: list[dict[str, Any]], seed: int) -> Iterator[dict[str, Any]]:
    """A signed answer to each thread whose last word is a customer's, 5 to 120 minutes
    after it, when that moment is at least a quarter hour before the corpus ends."""
    rng = random.Random(seed * 7919 + 1)
    brands = {b.slug: b for b in BRANDS}
    by_id = {d["id"]: d for d in docs}

    def root_of(doc: dict[str, Any]) -> dict[str, Any]:
        while doc.get("reply_to") in by_id:
            doc = by_id[doc["reply_to"]]
        return doc

    last: dict[str, dict[str, Any]] = {}
    for doc in docs:
        root = root_of(doc)
        if root.get("_brand") is None:
            continue
        seen = last.get(root["id"])
        if seen is None or doc["created_at"] >= seen["created_at"]:
            last[root["id"]] = doc
    end = max(d["created_at"] for d in docs) - timedelta(minutes=15)
    for n, (root_id, doc) in enumerate(sorted(last.items())):
        if doc["from_brand"]:
            continue
        when = doc["created_at"] + timedelta(minutes=5 + rng.expovariate(1 / 40) % 115)
        if when > end:
            continue
        brand = brands[by_id[root_id]["_brand"]]
        yield {
            "network": doc["network"],
            "id": f"{doc['network']}-{seed}-team-{n}",
            "author": {"id": brand.handle, "handle": brand.handle, "name": brand.name},
            "text": rng.choice(brand.agent_replies) + " ^" + rng.choice(("JS", "MK", "AL")),
            "created_at": when,
            "lang": "en",
            "reply_to": doc["id"],
            "from_brand": True,
        }


def _dated(doc: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    when: datetime = doc["created_at"] + shift
    kept = {k: v for k, v in doc.items() if not k.startswith("_")}
    return {**kept, "created_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def _timeline(seed: int, posts: int) -> Iterator[dict[str, Any]]:
    """The posts with their ``created_at`` as datetimes from :data:`START`."""
    rng = random.Random(seed)
    counter = 0
    clock = START
    open_threads: list[tuple[dict[str, Any], DemoBrand]] = []
    burst_at = START + timedelta(hours=30)

    def post(
        network: str,
        author: dict[str, str],
        text: str,
        when: datetime,
        reply_to: str | None = None,
        from_brand: bool = False,
    ) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        return {
            "network": network,
            "id": f"{network}-{seed}-{counter}",
            "author": author,
            "text": text,
            "created_at": when,
            "lang": "en",
            "reply_to": reply_to,
            "from_brand": from_brand,
        }

    while counter < posts:
        clock += timedelta(seconds=rng.randint(5, 90))
        in_burst = burst_at <= clock < burst_at + timedelta(minutes=45)
        brand = BRANDS[0] if in_burst and rng.random() < 0.8 else rng.choice(BRANDS)
        network = rng.choice(NETWORKS)
        roll = rng.random()
        if open_threads and roll < 0.22:
            parent, tbrand = open_threads.pop(rng.randrange(len(open_threads)))
            when = clock
            if rng.random() < 0.6:
                agent = {"id": tbrand.handle, "handle": tbrand.handle, "name": tbrand.name}
                text = rng.choice(tbrand.agent_replies) + " ^" + rng.choice(("JS", "MK", "AL"))
                reply = post(parent["network"], agent, text, when, parent["id"], from_brand=True)
                yield reply
                if rng.random() < 0.5:
                    follow = post(
                        parent["network"],
                        parent["author"],
                        rng.choice(FOLLOWUPS),
                        when + timedelta(minutes=rng.randint(2, 50)),
                        reply["id"],
                    )
                    yield follow
            else:
                yield post(
                    parent["network"], parent["author"], rng.choice(FOLLOWUPS), when, parent["id"]
                )
            continue
        if roll < 0.30:
            yield post(network, _author(rng, network), rng.choice(NOISE), clock)
            continue
        if in_burst:
            template = rng.choice(brand.outage)
        else:
            kind = rng.random()
            pool = (
                brand.complaints
                if kind < 0.5
                else brand.questions
                if kind < 0.8
                else brand.compliments
            )
            template = rng.choice(pool)
        product = rng.choice(brand.products).format(n=rng.randint(100, 999))
        text = template.format(b=_mention(rng, brand), p=product, h=brand.handle)
        if rng.random() < 0.1:
            text = text.upper() if "!" in text else text + " #customerservice"
        p = post(network, _author(rng, network), text, clock)
        p["_brand"] = brand.slug  # whom it is about (kept out of the corpus file)
        yield p
        if rng.random() < 0.6:
            open_threads.append((p, brand))


# Listening queries per brand: misspellings (automatic ~ and named), hashtags, handles,
# and NOTs for false friends ("a skyward view", the Brightline train in Florida).
LISTENING = {
    "skyward": {
        "mentions": '(skyward~[skywrd, "skyword air"] OR "skyward air" OR #flyskyward OR @SkywardAir) NOT ("skyward view" OR "skyward glance" OR "skyward gaze")',
    },
    "brightline": {
        "mentions": '(brightline~[brightlin, "bright line", "brite line"] OR #brightlinemobile OR @BrightlineHelp) NOT ("brightline train" OR brightline NEAR/3 station)',
    },
    "loafladle": {
        "mentions": '("loaf & ladle" OR "loaf and ladle" OR "loaf n ladle" OR "loaf ladel" OR #LoafAndLadle OR @LoafAndLadle)',
    },
}


def brands_config() -> list[dict[str, Any]]:
    return [
        {
            "slug": b.slug,
            "name": b.name,
            "keywords": [*b.keywords, *b.misspellings],
            "handles": {n: [b.handle] for n in NETWORKS},
            "queries": LISTENING.get(b.slug, {}),
        }
        for b in BRANDS
    ]


def write(
    path: Path,
    seed: int = 7,
    posts: int = 3000,
    anchor: datetime | None = None,
    team: bool = False,
) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("wb") as f:
        for p in generate(seed, posts, anchor, team):
            f.write(orjson.dumps(p) + b"\n")
            n += 1
    return n
