"""Prices from the providers' own price APIs, cached with the date they were read.

- Azure: the Retail Prices API (``https://prices.azure.com/api/retail/prices``, no sign-in), the Linux
  consumption price of the VM size in the region (spot: its "Spot" meter).
- AWS: the Price List API (boto3's ``pricing`` client, us-east-1), the shared-tenancy Linux on-demand price of
  the instance type in the region; spot: the region's latest spot price history (EC2).
- GCP: the Cloud Billing Catalog (Compute Engine's SKUs, read with the same credentials as Compute Engine): the
  machine type's family price per vCPU hour and per GiB hour in the region (spot: the "Spot Preemptible" SKUs),
  times its vCPUs and memory from Compute Engine's listing. Types with GPUs attached (a2, a3, g2) bill the GPUs
  apart: the table is used for them.
- Alibaba Cloud: ECS's ``DescribePrice`` (the official SDK, the same AccessKey as ECS), the hourly pay-as-you-go
  (spot: ``SpotAsPriceGo``) price of the instance type with a 40 GiB ESSD system disk in the region, when it is
  quoted in USD (an account of the China site is quoted in CNY: the table is used).

Each price read is kept in a cache file (``BENCHFLEET_PRICE_CACHE``, default ``~/.cache/benchfleet/prices.json``)
with its date, and reused for ``MAX_AGE_DAYS``; where no provider answers, :mod:`benchfleet.cloud.prices` falls back
to its dated table and says so. Endpoints: ``BENCHFLEET_AZURE_PRICES_ENDPOINT``, and boto3's standard variables
(``AWS_ENDPOINT_URL_PRICING``, ``AWS_ENDPOINT_URL``), ``BENCHFLEET_GCP_BILLING_ENDPOINT``,
``BENCHFLEET_ALIBABA_ENDPOINT``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

MAX_AGE_DAYS = 7
TIMEOUT_S = 8.0
AZURE_PRICES = "https://prices.azure.com"


@dataclass(frozen=True)
class LivePrice:
    usd_per_hour: float
    source: str  # "Azure Retail Prices API", "AWS Price List API", "EC2 spot price history"
    read_on: str  # ISO date


def _cache_file() -> Path:
    return Path(os.environ.get("BENCHFLEET_PRICE_CACHE") or Path.home() / ".cache" / "benchfleet" / "prices.json")


def _key(provider: str, region: str, instance_type: str, spot: bool) -> str:
    # the endpoint too: a price read from another endpoint (a sovereign cloud, a test server) is another price
    endpoint = {"azure": os.environ.get("BENCHFLEET_AZURE_PRICES_ENDPOINT", ""),
                "gcp": os.environ.get("BENCHFLEET_GCP_BILLING_ENDPOINT", ""),
                "aws": os.environ.get("AWS_ENDPOINT_URL_PRICING") or os.environ.get("AWS_ENDPOINT_URL", ""),
                "alibaba": os.environ.get("BENCHFLEET_ALIBABA_ENDPOINT", "")}
    at = endpoint.get(provider, "")
    return f"{provider}/{region}/{instance_type}/{'spot' if spot else 'on-demand'}" + (f"@{at}" if at else "")


def _load() -> dict:
    try:
        data = json.loads(_cache_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached(provider: str, region: str, instance_type: str, spot: bool = False) -> LivePrice | None:
    """A price read within MAX_AGE_DAYS, from the cache only (no network)."""
    e = _load().get(_key(provider, region, instance_type, spot))
    if not isinstance(e, dict):
        return None
    try:
        age = (date.today() - date.fromisoformat(str(e["read_on"]))).days
        price = float(e["usd_per_hour"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= age <= MAX_AGE_DAYS or not 0 < price < 10_000:
        return None
    return LivePrice(price, str(e.get("source", ""))[:80], str(e["read_on"]))


def _store_miss(key: str) -> None:
    data = _load()
    misses = data.get("misses") if isinstance(data.get("misses"), dict) else {}
    data["misses"] = {**misses, key: date.today().isoformat()}
    _write(data)


def _store(key: str, p: LivePrice) -> None:
    data = _load()
    data[key] = {"usd_per_hour": p.usd_per_hour, "source": p.source, "read_on": p.read_on}
    _write(data)


def _write(data: dict) -> None:
    f = _cache_file()
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=".prices-", suffix=".tmp")  # one per writer
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, f)
    except OSError:
        pass  # a cache that cannot be written costs another read next time, nothing else


def lookup(provider: str, region: str, instance_type: str, spot: bool = False,
           project: str = "") -> LivePrice | None:
    """The provider's price for one instance in the region (cached), or None where its API does not answer or
    has no price for it (a miss is remembered for the day: GCP's catalogue is read whole to find one)."""
    key = _key(provider, region, instance_type, spot)
    hit = cached(provider, region, instance_type, spot)
    if hit is not None:
        return hit
    reader = {"azure": azure_retail, "aws": aws_price_list, "gcp": gcp_billing,
              "alibaba": alibaba_describe_price}.get(provider)
    if reader is None or _load().get("misses", {}).get(key) == date.today().isoformat():
        return None
    try:
        price = reader(region, instance_type, spot, project) if provider == "gcp" else \
            reader(region, instance_type, spot)
    except Exception:  # noqa: BLE001 -- any failure of a price API means "use the table", never a failed run
        price = None
    if price is None or not 0 < price < 10_000:
        _store_miss(key)
        return None
    source = {"azure": "Azure Retail Prices API", "gcp": "Cloud Billing Catalog API",
              "alibaba": "Alibaba Cloud ECS DescribePrice API",
              "aws": "EC2 spot price history" if spot else "AWS Price List API"}[provider]
    got = LivePrice(round(price, 6), source, datetime.now(timezone.utc).date().isoformat())
    _store(key, got)
    return got


def azure_retail(region: str, instance_type: str, spot: bool) -> float | None:
    base = os.environ.get("BENCHFLEET_AZURE_PRICES_ENDPOINT", AZURE_PRICES).rstrip("/")
    flt = (f"serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and armRegionName eq '{region}' "
           f"and armSkuName eq '{instance_type}'")
    url = f"{base}/api/retail/prices?" + urllib.parse.urlencode({"$filter": flt})
    prices = []
    for _ in range(5):  # NextPageLink pages (a size has a few meters: Linux, Windows, spot, low priority)
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:  # noqa: S310 -- https by default
            page = json.loads(r.read(2_000_000))
        for it in page.get("Items", []):
            name = f"{it.get('productName', '')} {it.get('skuName', '')} {it.get('meterName', '')}"
            if it.get("unitOfMeasure") != "1 Hour" or "Windows" in name or "Low Priority" in name:
                continue
            if ("Spot" in name) == spot and it.get("currencyCode", "USD") == "USD":
                prices.append(float(it["retailPrice"]))
        url = page.get("NextPageLink") or ""
        if not url.startswith(base + "/"):
            break
    return min(prices) if prices else None


def aws_price_list(region: str, instance_type: str, spot: bool) -> float | None:
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 1})
    if spot:
        # StartTime now: each zone's price in force now (without it, the latest changes, old ones among them); the
        # highest of the zones, since the instance may land in any (an estimate held against --max-cost)
        hist = boto3.client("ec2", region_name=region, config=cfg).describe_spot_price_history(
            InstanceTypes=[instance_type], ProductDescriptions=["Linux/UNIX"], StartTime=datetime.now(timezone.utc),
            MaxResults=100)
        prices = [float(h["SpotPrice"]) for h in hist.get("SpotPriceHistory", [])]
        return max(prices) if prices else None
    flt = {"instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux", "tenancy": "Shared",
           "preInstalledSw": "NA", "capacitystatus": "Used"}
    out = boto3.client("pricing", region_name="us-east-1", config=cfg).get_products(
        ServiceCode="AmazonEC2", Filters=[{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in flt.items()],
        MaxResults=10)
    prices = []
    for raw in out.get("PriceList", []):
        product = json.loads(raw) if isinstance(raw, str) else raw
        for term in (product.get("terms", {}).get("OnDemand") or {}).values():
            for dim in (term.get("priceDimensions") or {}).values():
                usd = float((dim.get("pricePerUnit") or {}).get("USD", 0) or 0)
                if dim.get("unit") == "Hrs" and usd > 0:
                    prices.append(usd)
    return min(prices) if prices else None


def alibaba_describe_price(region: str, instance_type: str, spot: bool) -> float | None:
    from benchfleet.cloud.alibaba import AlibabaProvider

    got = AlibabaProvider().price(region, instance_type, spot)
    if got is None or got[1] != "USD":
        return None
    return got[0]


COMPUTE_ENGINE = "6F81-5844-456A"  # the Cloud Billing Catalog's service id of Compute Engine
GCP_BILLING = "https://cloudbilling.googleapis.com"
_WITH_GPUS = ("a2", "a3", "g2")


def _usd(rate: dict) -> float:
    price = rate.get("unitPrice") or {}
    return int(price.get("units") or 0) + int(price.get("nanos") or 0) / 1e9


def gcp_billing(region: str, instance_type: str, spot: bool, project: str = "") -> float | None:
    family = instance_type.split("-")[0].lower()
    if family in _WITH_GPUS or "-custom-" in instance_type:  # custom types have SKUs of their own
        return None
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    from benchfleet.cloud.gcp import GcpProvider

    cpus, gib = GcpProvider(project).shape(instance_type)
    if not cpus:
        return None
    creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-billing.readonly"])
    http = AuthorizedSession(creds)
    base = os.environ.get("BENCHFLEET_GCP_BILLING_ENDPOINT", GCP_BILLING).rstrip("/")
    want = {"core": None, "ram": None}
    prefix = ("spot preemptible " if spot else "") + family
    token = ""
    for _ in range(50):  # pages of 5000 SKUs; Compute Engine has tens of thousands
        r = http.get(f"{base}/v1/services/{COMPUTE_ENGINE}/skus", params={"currencyCode": "USD", "pageSize": 5000,
                                                                          **({"pageToken": token} if token else {})},
                     timeout=TIMEOUT_S)
        r.raise_for_status()
        if len(r.content) > 64_000_000:  # a page of 5000 SKUs is a few MB
            return None
        page = r.json()
        for sku in page.get("skus", []):
            d = str(sku.get("description", "")).lower()
            usage = (sku.get("category") or {}).get("usageType", "")
            if region not in (sku.get("serviceRegions") or []) or usage != ("Preemptible" if spot else "OnDemand"):
                continue
            for part in ("core", "ram"):
                # "N2 Instance Core running in Americas", "Spot Preemptible E2 Instance Ram running in Belgium",
                # "N1 Predefined Instance Core running in Americas", "N2D AMD Instance Ram running in Americas"
                if re.match(rf"{re.escape(prefix)}( predefined| amd)? instance {part} running in", d) \
                        and want[part] is None:
                    rates = ((sku.get("pricingInfo") or [{}])[0].get("pricingExpression") or {}).get("tieredRates")
                    if rates:
                        want[part] = _usd(rates[-1])
        token = page.get("nextPageToken") or ""
        if not token or all(v is not None for v in want.values()):
            break
    if want["core"] is None or want["ram"] is None:
        return None
    return cpus * want["core"] + gib * want["ram"]
