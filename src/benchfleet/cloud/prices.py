"""Cloud prices: the provider's own price where its price API answers (:mod:`benchfleet.cloud.live_prices`,
read before a run and cached with its date), else a dated table (USD per hour, Linux, the cheapest common region
of each cloud); the estimate before a run, the actual cost from recorded uptime after it, and dollars per million
samples.

Alibaba Cloud's price is ECS's own DescribePrice (its table is empty: no figure there is unverified).
OVHcloud has no price API: its flavors are priced from the table only (a date and a source of their own,
``TABLE_DATES``, ``TABLE_NOTES``). A system's ``price_per_hour`` in the sweep file wins over both. Each estimate
line says where its price came from, and the table how old it is. Spot prices move daily; the table's spot column
is a typical price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

TABLE_DATE = "2024-06-01"  # list prices as published then (us-east-1, eastus, us-central1)

# provider -> instance type -> (on-demand, spot) USD/hour
PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "aws": {
        "m5.large": (0.096, 0.035), "m5.xlarge": (0.192, 0.07), "m5.2xlarge": (0.384, 0.14),
        "c6i.large": (0.085, 0.034), "c6i.2xlarge": (0.34, 0.135), "c6i.4xlarge": (0.68, 0.27),
        "c7i.2xlarge": (0.357, 0.14), "m7i.2xlarge": (0.4032, 0.16), "c7g.2xlarge": (0.29, 0.11),
        "g4dn.xlarge": (0.526, 0.21), "g5.xlarge": (1.006, 0.40), "g6.xlarge": (0.805, 0.33),
        "p4d.24xlarge": (32.773, 12.5), "p5.48xlarge": (98.32, 40.0),
    },
    "azure": {
        "Standard_D2s_v5": (0.096, 0.019), "Standard_D4s_v5": (0.192, 0.038), "Standard_D8s_v5": (0.384, 0.077),
        "Standard_F8s_v2": (0.338, 0.068), "Standard_NC4as_T4_v3": (0.526, 0.158),
        "Standard_NC24ads_A100_v4": (3.673, 1.1), "Standard_ND96isr_H100_v5": (98.32, 39.0),
    },
    "gcp": {
        "e2-standard-2": (0.067, 0.02), "n2-standard-4": (0.194, 0.047), "n2-standard-8": (0.388, 0.094),
        "c3-standard-8": (0.419, 0.038), "g2-standard-4": (0.707, 0.224), "a2-highgpu-1g": (3.673, 1.1),
        "a3-highgpu-8g": (88.49, 30.0),
    },
    # OVHcloud: no figures. It has no price API and its price page could not be read where this table was made, so
    # no figure here is verified; an OVH system's estimate asks for price_per_hour (and a run's costs use it).
    "ovh": {},
    # OCI: no figures. Oracle publishes no documented price API (only an undocumented endpoint behind its price
    # page), and no OCI price could be verified where this table was made; an OCI system's estimate asks for
    # price_per_hour (and a run's costs use it).
    "oci": {},
    # Alibaba Cloud: no figures. ECS's DescribePrice API gives the price (live_prices), and no Alibaba price could be
    # verified where this table was made; where DescribePrice does not answer, the estimate asks for price_per_hour.
    "alibaba": {},
}
# Tables of another date than TABLE_DATE, and where their figures come from.
TABLE_DATES: dict[str, str] = {}
TABLE_NOTES: dict[str, str] = {}
# Providers without a price API whose table is empty: a missing price says so and what to set.
NO_PRICES = {"ovh": "OVHcloud has no price API and benchfleet ships no unverified prices for it",
             "oci": "OCI has no documented price API and benchfleet ships no unverified prices for it"}
# where a provider without a price API publishes its prices (for the price_per_hour hint)
PRICE_PAGES = {"ovh": "ovhcloud.com/en/public-cloud/prices/", "oci": "Oracle's published OCI price list"}


class PriceError(ValueError):
    pass


def quote(provider: str, instance_type: str, spot: bool = False, override: float | None = None, region: str = "",
          project: str = "") -> tuple[float, str]:
    """(USD/hour, where it came from): the sweep's price, the provider's in ``region`` (its price API, or what it
    answered within the week), or the table."""
    from benchfleet.cloud import live_prices

    if override is not None:
        return float(override), "price_per_hour of the sweep file"
    if region:
        got = live_prices.lookup(provider, region, instance_type, spot, project)
        if got is not None:
            return got.usd_per_hour, f"{got.source}, {region}, read {got.read_on}"
    try:
        on_demand, spot_price = PRICES[provider][instance_type]
    except KeyError:
        if provider in NO_PRICES:
            raise PriceError(f"no {provider} price for {instance_type!r}: {NO_PRICES[provider]}; set price_per_hour "
                             f"(USD per hour, from {PRICE_PAGES[provider]}) in the system's cloud section") from None
        raise PriceError(f"no {provider} price for {instance_type!r}: none from its price API (not reachable, or "
                         f"no price for it there) and none in the price table "
                         f"({TABLE_DATES.get(provider, TABLE_DATE)}); set price_per_hour in the system's cloud "
                         "section") from None
    date = TABLE_DATES.get(provider, TABLE_DATE)
    age = (datetime.now(timezone.utc).date() - datetime.strptime(date, "%Y-%m-%d").date()).days
    note = f" ({TABLE_NOTES[provider]})" if provider in TABLE_NOTES else ""
    return (spot_price if spot else on_demand), f"price table of {date}{note}, {age} days old"


def hourly(provider: str, instance_type: str, spot: bool = False, override: float | None = None) -> float:
    """The sweep's price or the table's (no API, no cache: what a run's estimate quoted is kept in its plan)."""
    return quote(provider, instance_type, spot, override)[0]


SETUP_S = 600.0  # boot, SSH, harness install: added to every instance's estimated uptime


@dataclass
class Estimate:
    lines: list[tuple[str, int, float, float, float, str]]  # system, count, $/h, hours each, USD, price source
    missing: list[str]

    @property
    def total(self) -> float:
        return round(sum(x[4] for x in self.lines), 2)


def estimate(plan) -> Estimate:
    """Instances x hourly price x (their cells' estimated time + set-up); hosts run in parallel. Prices: the
    providers' price APIs (first region of each system) before the table."""
    lines, missing = [], []
    for name, cloud in plan.cloud_systems().items():
        hosts = plan.hosts_of(name)
        hours = max((plan.host_estimate_s(h) for h in hosts), default=0.0) / 3600 + SETUP_S / 3600
        try:
            rate, source = quote(cloud.provider, cloud.instance_type, cloud.spot, cloud.price_per_hour,
                                 cloud.regions[0], project=getattr(cloud, "project", ""))
        except PriceError as exc:
            missing.append(f"{name}: {exc}")
            continue
        lines.append((name, len(hosts), rate, round(hours, 3), round(rate * hours * len(hosts), 2), source))
    return Estimate(lines, missing)


def expiry_hours(plan, name: str) -> float:
    """Hard limit on an instance's life: 3x its cells' estimate + 1 h, unless the sweep sets expires_h (a provider
    whose last line repeats daily refuses more than a day in pre-flight)."""
    cloud = plan.cloud_systems()[name]
    if cloud.expires_h:
        return float(cloud.expires_h)
    hosts = plan.hosts_of(name)
    return round(max((plan.host_estimate_s(h) for h in hosts), default=0.0) * 3 / 3600 + 1.0, 2)


def _t(s: str) -> datetime:
    return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")


def actual(ledger: Path, plan) -> dict:
    """Cost from recorded uptime: each instance from launch to its confirmed deletion (or now)."""
    from benchfleet.cloud.fleet import read_ledger

    clouds = plan.cloud_systems()
    seen: dict[str, dict] = {}
    for e in read_ledger(ledger):  # a line torn by a killed run is skipped with a warning
        key = f"{e['provider']}:{e['id']}"
        d = seen.setdefault(key, {"id": e["id"], "host": e["host"], "system": e["system"],
                                  "provider": e["provider"], "instance_type": e["instance_type"],
                                  "spot": e["spot"], "launched_at": e.get("launched_at") or e["at"]})
        if e["event"] == "deleted":
            d["deleted_at"] = e["at"]
    total = 0.0
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for d in seen.values():
        end = _t(d["deleted_at"]) if d.get("deleted_at") else now
        d["uptime_s"] = max(0.0, (end - _t(d["launched_at"])).total_seconds())
        cloud = clouds.get(d["system"])
        try:
            quoted = getattr(plan, "prices", {}).get(d["system"])
            d["usd_per_hour"] = quoted["usd_per_hour"] if quoted else hourly(
                d["provider"], d["instance_type"], d["spot"], cloud.price_per_hour if cloud else None)
            d["usd"] = round(d["usd_per_hour"] * d["uptime_s"] / 3600, 4)
            total += d["usd"]
        except PriceError:
            d["usd_per_hour"] = d["usd"] = None
    return {"price_table": TABLE_DATE, "instances": list(seen.values()), "total_usd": round(total, 4)}


def usd_per_million_samples(usd_per_hour: float, scenario: str, metric: float | None) -> float | None:
    """What a million samples cost at the measured rate on this instance."""
    if not metric:
        return None
    per_s = {"Offline": metric, "Server": metric, "SingleStream": 1000.0 / metric,
             "MultiStream": 8 * 1000.0 / metric}.get(scenario)
    return round(usd_per_hour / 3600 / per_s * 1e6, 4) if per_s else None
