"""`earful brands holidays ...` and `earful brands sla ...`: closed days and the SLA
targets per priority, through the same services as the admin page."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from earful.auth.service import audit
from earful.brands import repository as brands_repo
from earful.cli.context import brand_or_exit, console, engine_or_exit, refused
from earful.conversations import sla
from earful.db import transaction
from earful.engagement import holidays
from earful.migrate import upgrade

holidays_app = typer.Typer(no_args_is_help=True, help="Closed days: list, add, remove.")
sla_app = typer.Typer(no_args_is_help=True, help="SLA targets per priority: show, set.")
Brand = Annotated[str, typer.Argument(help="Brand slug.")]


@holidays_app.command("list")
def list_holidays(brand: Brand) -> None:
    with transaction(engine_or_exit()) as session:
        table = Table("date", "name")
        for h in holidays.holidays_of(session, brand_or_exit(session, brand).id):
            table.add_row(h.day.isoformat(), h.name)
    console.print(table)


@holidays_app.command("add")
def add_holiday(
    brand: Brand,
    day: Annotated[str, typer.Argument(help="The local date, e.g. 2026-12-25.")],
    name: Annotated[str, typer.Option(help="What it is, e.g. Christmas.")] = "",
) -> None:
    """Close the brand on a date (its time zone): no hours, no promise that day."""
    engine = engine_or_exit()
    upgrade(engine)
    with refused(), transaction(engine) as session:
        brand_id = brand_or_exit(session, brand).id
        row = holidays.add_holiday(session, brand_id, holidays.parse_day(day), name)
        audit(session, None, "settings.holiday_add", brand_id=brand_id,
              target=f"brand:{brand}", result=row.day.isoformat())  # fmt: skip
    console.print(f"{brand} closed on {row.day.isoformat()}")


@holidays_app.command("remove")
def remove_holiday(brand: Brand, day: str) -> None:
    with refused(), transaction(engine_or_exit()) as session:
        brand_id = brand_or_exit(session, brand).id
        found = holidays.parse_day(day)
        holidays.remove_holiday(session, brand_id, found)
        audit(session, None, "settings.holiday_remove", brand_id=brand_id,
              target=f"brand:{brand}", result=found.isoformat())  # fmt: skip
    console.print(f"{brand} open again on {found.isoformat()}")


@sla_app.command("show")
def show_sla(brand: Brand) -> None:
    with transaction(engine_or_exit()) as session:
        brand_id = brand_or_exit(session, brand).id
        found = brands_repo.by_slug(session, brand)
        default = found.target_response_minutes if found else 0
        targets = sla.targets_of(session, [brand_id])
        table = Table("priority", "urgency", "target (min)")
        levels = {p: u for u, p in sla.BY_URGENCY.items()}
        for p in sla.PRIORITIES:
            minutes = targets.get((brand_id, p))
            shown = str(minutes) if minutes else f"{default} (the brand's)"
            table.add_row(p, str(levels[p]), shown)
    console.print(table)


@sla_app.command("set")
def set_sla(
    brand: Brand,
    priority: Annotated[str, typer.Argument(help=f"One of {', '.join(sla.PRIORITIES)}.")],
    minutes: Annotated[
        int | None, typer.Argument(help="First-response target; omit to use the brand's.")
    ] = None,
) -> None:
    engine = engine_or_exit()
    upgrade(engine)
    with refused(), transaction(engine) as session:
        brand_id = brand_or_exit(session, brand).id
        sla.set_target(session, brand_id, priority, minutes)
        audit(session, None, "settings.sla", brand_id=brand_id, target=f"brand:{brand}",
              fields=priority)  # fmt: skip
    console.print(f"{brand}: {priority} {minutes if minutes else 'uses the brand target'}")
