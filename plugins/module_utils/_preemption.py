# Copyright: benchfleet contributors
# Apache License 2.0
# Private to benchfleet.mlperf: other collections must not import it; it may change at any time.
"""Read a cloud instance's interruption notice from its provider's metadata service (standard library only).

- aws: IMDSv2 (a session token from ``PUT /latest/api/token``, IMDSv1 without one), then
  ``GET /latest/meta-data/spot/instance-action``: 404 while none, a JSON ``{"action", "time"}`` once the
  instance is to be stopped or terminated (two minutes ahead).
- gcp: ``GET /computeMetadata/v1/instance/preempted`` with ``Metadata-Flavor: Google``: ``TRUE`` once preempted.
- azure: Scheduled Events, ``GET /metadata/scheduledevents?api-version=2020-07-01`` with ``Metadata: true``: an
  event of type ``Preempt`` (spot eviction, 30 s ahead).
- alibaba: ``GET /latest/meta-data/instance/spot/termination-time``: 404 while none, the UTC time the spot instance
  is to be released (``2026-12-04T16:41:00Z``) once ECS reclaims it (about five minutes ahead).

Each read takes at most ``TIMEOUT_S``; a metadata service that does not answer means no notice.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

TIMEOUT_S = 1.0
BASES = {"aws": "http://169.254.169.254", "gcp": "http://metadata.google.internal",
         "azure": "http://169.254.169.254", "alibaba": "http://100.100.100.200"}


def _get(url, headers, method="GET"):
    req = urllib.request.Request(url, headers=headers, method=method)
    # no proxy: the metadata service is link-local, and a proxy would answer for another machine
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=TIMEOUT_S) as r:
        return r.status, r.read(65536).decode("utf-8", "replace")


def notice(provider, base=""):
    """The interruption notice in words, or "" when there is none (or no metadata service answers)."""
    base = (base or BASES.get(provider, "")).rstrip("/")
    if not base:
        return ""
    try:
        if provider == "aws":
            headers = {}
            try:
                _, token = _get(base + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, "PUT")
                headers = {"X-aws-ec2-metadata-token": token.strip()}
            except (urllib.error.URLError, OSError, ValueError):
                pass  # IMDSv1
            status, body = _get(base + "/latest/meta-data/spot/instance-action", headers)
            if status != 200:
                return ""
            action = json.loads(body)
            return (f"AWS spot interruption notice: {str(action.get('action', ''))[:20]} at "
                    f"{str(action.get('time', ''))[:40]}")
        if provider == "gcp":
            status, body = _get(base + "/computeMetadata/v1/instance/preempted", {"Metadata-Flavor": "Google"})
            return "GCP preemption notice: instance/preempted is TRUE" if status == 200 and \
                body.strip().upper() == "TRUE" else ""
        if provider == "azure":
            status, body = _get(base + "/metadata/scheduledevents?api-version=2020-07-01", {"Metadata": "true"})
            events = json.loads(body).get("Events") or [] if status == 200 else []
            for e in events:
                if isinstance(e, dict) and e.get("EventType") == "Preempt":
                    return f"Azure Scheduled Event Preempt, not before {str(e.get('NotBefore', ''))[:40]}"
        if provider == "alibaba":
            status, body = _get(base + "/latest/meta-data/instance/spot/termination-time", {})
            when = body.strip()[:40]
            return f"Alibaba Cloud spot release notice: to be released at {when}" if status == 200 and when else ""
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return ""
    return ""
