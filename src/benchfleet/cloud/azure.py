"""Azure through azure-mgmt-compute, -network and -resource: every Azure call benchfleet makes is here.

One resource group per run (``benchfleet-<run>``) holds every VNet, NSG, public IP, NIC, disk and VM of
the run, so one delete removes them all. Credentials come only from azure-identity's
DefaultAzureCredential chain (environment, workload or managed identity, Azure CLI login); the
subscription from the sweep or AZURE_SUBSCRIPTION_ID. ``BENCHFLEET_AZURE_ARM_ENDPOINT`` points at another
Resource Manager endpoint (sovereign clouds, a test server).

The run's resource group is reused only when its owner tag is this controller's (anything else is refused
before anything is created); a VM tagged with the run is adopted only when it is ours. Disks: managed disks
are always encrypted at rest by Azure (server-side encryption with platform-managed keys; it cannot be
turned off), and every VM also asks for encryption at host (temporary disk and caches too). A subscription
that has not registered that feature gets an error naming the fix.

The last line at expiry: each VM gets Azure's auto-shutdown schedule (a ``Microsoft.DevTestLab/schedules``
resource named ``shutdown-computevm-<vm>``, the one the portal's "Auto-shutdown" blade makes) at its expiry's
time of day in UTC. That shutdown deallocates the VM, so its compute billing stops, where the in-VM
``shutdown -P`` (kept as a second line) only powers it off and Azure goes on billing. The schedule repeats
daily, so an Azure system's expiry is at most 24 hours away (``MAX_HOURS``); a VM whose schedule cannot be
made is deleted again, never left without it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from datetime import datetime, timezone

from benchfleet.cloud.base import (
    AUTH,
    BAD_REQUEST,
    CAPACITY,
    NOT_FOUND,
    OTHER,
    QUOTA,
    QUOTA_GLOBAL,
    TAG_EXPIRES,
    TAG_HEARTBEAT,
    TAG_HOST,
    TAG_OWNER,
    TAG_RUN,
    TAG_SYSTEM,
    Demand,
    Instance,
    LaunchRequest,
    ProviderError,
    asked,
    heartbeat,
    leftover,
    ours,
)

NAME = "azure"
IMAGES = {  # alias -> (publisher, offer, sku)
    "ubuntu-22.04": ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"),
    "ubuntu-24.04": ("Canonical", "ubuntu-24_04-lts", "server"),
    "debian-12": ("Debian", "debian-12", "12-gen2"),
}
_KINDS = {
    "SkuNotAvailable": CAPACITY, "ZonalAllocationFailed": CAPACITY, "AllocationFailed": CAPACITY,
    "OverconstrainedAllocationRequest": CAPACITY, "OverconstrainedZonalAllocationRequest": CAPACITY,
    "QuotaExceeded": QUOTA, "OperationNotAllowed": QUOTA, "SubscriptionQuotaExceeded": QUOTA_GLOBAL,
    "AuthorizationFailed": AUTH, "InvalidAuthenticationToken": AUTH, "AuthenticationFailed": AUTH,
    "SubscriptionNotFound": AUTH, "ResourceNotFound": NOT_FOUND, "ResourceGroupNotFound": NOT_FOUND,
    "NotFound": NOT_FOUND,
}
# power states (instance view) that override a provisioned VM's "running"
_POWER = {"deallocated": "stopped", "deallocating": "stopping", "stopped": "stopped", "stopping": "stopping",
          "starting": "starting"}
MAX_HOURS = 24.0  # the auto-shutdown schedule repeats daily: a later expiry would deallocate the VM a day early
SHUTDOWN_API = "2018-09-15"  # Microsoft.DevTestLab/schedules
_STATES = {"succeeded": "running", "creating": "pending", "updating": "running", "deleting": "deleting",
           "failed": "failed"}


def _rg(run: str) -> str:
    return f"benchfleet-{run}"


class AzureProvider:
    name = NAME
    max_hours = MAX_HOURS

    def __init__(self, subscription: str = ""):
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.network import NetworkManagementClient
        from azure.mgmt.resource.resources import ResourceManagementClient

        self.subscription = subscription or os.environ.get("AZURE_SUBSCRIPTION_ID", "")
        if not self.subscription:
            raise ProviderError(AUTH, "NoSubscription", "no Azure subscription: set subscription in the system's "
                                "cloud section or AZURE_SUBSCRIPTION_ID", NAME)
        kw = {}
        endpoint = os.environ.get("BENCHFLEET_AZURE_ARM_ENDPOINT")
        if endpoint:
            kw = {"base_url": endpoint, "credential_scopes": ["https://management.azure.com/.default"]}
        cred = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        self.compute = ComputeManagementClient(cred, self.subscription, **kw)
        self.network = NetworkManagementClient(cred, self.subscription, **kw)
        self.resources = ResourceManagementClient(cred, self.subscription, **kw)

    def _call(self, fn, *args, where: str = "", **kw):
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        try:
            out = fn(*args, **kw)
            return out.result() if hasattr(out, "result") and hasattr(out, "done") else out
        except ClientAuthenticationError as exc:
            raise ProviderError(AUTH, "Authentication", f"{exc.message} {where}".strip(), NAME) from None
        except HttpResponseError as exc:
            code = (exc.error.code if exc.error else None) or str(exc.status_code)
            kind = _KINDS.get(code, BAD_REQUEST if code.startswith("Invalid") or exc.status_code == 400 else OTHER)
            if exc.status_code == 404:
                kind = NOT_FOUND
            raise ProviderError(kind, code, f"{(exc.error.message if exc.error else exc.message)} {where}".strip(),
                                NAME) from None

    # -- before anything is created
    def sku(self, region: str, instance_type: str) -> tuple[int, str, list[str]] | None:
        """(vCPUs, quota family, zones) of a VM size offered to this subscription in the region, or None."""
        for sku in self._call(lambda: list(self.compute.resource_skus.list(filter=f"location eq '{region}'")),
                              where=f"({region})"):
            if sku.resource_type != "virtualMachines" or (sku.name or "").lower() != instance_type.lower():
                continue
            if any(r.type == "Location" for r in sku.restrictions or []):
                return None  # listed, but not for this subscription in this region
            caps = {c.name: c.value for c in sku.capabilities or []}
            zones = [z for info in sku.location_info or [] for z in info.zones or []]
            return int(float(caps.get("vCPUs", 0))), sku.family or "", zones
        return None

    shares_quotas = True  # preflight takes the other systems of the subscription (see Provider.preflight)

    def preflight(self, regions: list[str], instance_type: str, count: int, spot: bool = False,
                  image: str = "", system: str = "", others: Sequence[Demand] = ()) -> list[str]:
        """Refused (a problem per region) unless one region offers the size with the vCPUs for ``count`` VMs
        free in its regional quota ("Total Regional vCPUs") and the size's family quota, with those of the
        ``others`` that draw on the same quota (two sizes of one family: both); spot VMs count against the
        regional low-priority quota instead."""
        demands = [Demand(system or "this system", instance_type, count, spot), *others]
        why = []
        for region in regions:
            try:
                sku = self.sku(region, instance_type)
                usage = {u.name.value: u for u in self._call(lambda r=region: list(self.compute.usage.list(r)),
                                                             where=f"({region})")}
            except ProviderError as exc:
                why.append(str(exc))
                if exc.kind == AUTH:
                    return why
                continue
            if sku is None:
                why.append(f"azure: {instance_type} is not offered to this subscription in {region}")
                continue
            if image:
                try:
                    self.resolve_image(region, image)
                except ProviderError as exc:
                    why.append(str(exc))
                    continue
            try:
                short = self._quota_short(region, usage, demands)
            except ProviderError as exc:
                why.append(str(exc))
                continue
            if not short:
                return []  # this region can hold the system (earlier ones are failed over)
            why.append("azure: " + "; ".join(short))
        return why

    def _quota_short(self, region: str, usage: dict, demands: list[Demand]) -> list[str]:
        """The quotas of the region that the first demand draws on and cannot hold it with the others drawing on
        them (spot: lowPriorityCores; else cores and the size's family), with their figures."""
        sizes = {d.instance_type: self.sku(region, d.instance_type) or (0, "", []) for d in demands}

        def quotas(d: Demand) -> tuple[str, ...]:
            return ("lowPriorityCores",) if d.spot else ("cores", sizes[d.instance_type][1])

        short = []
        for name in quotas(demands[0]):
            u = usage.get(name)
            if u is None:
                continue
            need, figures = asked([(d.system, d.count, sizes[d.instance_type][0]) for d in demands
                                   if name in quotas(d)])
            if need > u.limit - u.current_value:
                short.append(f"{u.name.localized_value or u.name.value} quota ({u.name.value}) of {region}: "
                             f"{figures} vCPUs asked, {max(0, u.limit - u.current_value)} of {u.limit} free")
        return short

    def zones(self, region: str, instance_type: str) -> list[str]:
        return [""]  # regional placement unless the sweep lists zones ("1", "2", "3")

    # -- run-scoped resources: the resource group, its network and its NSG (SSH from the controller only)
    def prepare(self, run: str, region: str, req: LaunchRequest) -> None:
        from azure.mgmt.network import models as nm

        rg = _rg(run)
        run_tags = {k: v for k, v in req.tags.items() if k in (TAG_RUN, TAG_EXPIRES, TAG_OWNER)}
        try:  # a resource group keeps its first location; later regions only add their network
            group = self._call(self.resources.resource_groups.get, rg)
        except ProviderError as exc:
            if exc.kind != NOT_FOUND:
                raise
            group = None
        if group is not None and not ours(group.tags or {}, run, req.tags[TAG_OWNER]):
            raise ProviderError(BAD_REQUEST, "ForeignResourceGroup", f"resource group {rg} is not this controller's "
                                f"(owner tag {(group.tags or {}).get(TAG_OWNER) or 'none'}, ours is "
                                f"{req.tags[TAG_OWNER]}); nothing was created. Use another --run-id", NAME)
        # create, or refresh the heartbeat that keeps reap away while this run is being provisioned
        self._call(self.resources.resource_groups.create_or_update, rg, {
            "location": group.location if group is not None else region,
            "tags": {**(group.tags if group is not None else run_tags), TAG_HEARTBEAT: heartbeat()}})
        self._call(self.network.network_security_groups.begin_create_or_update, rg, f"nsg-{region}",
                   nm.NetworkSecurityGroup(location=region, tags=run_tags, security_rules=[nm.SecurityRule(
                       name="ssh-from-controller", protocol="Tcp", direction="Inbound", access="Allow",
                       priority=100, source_address_prefix=req.ssh_cidr, source_port_range="*",
                       destination_address_prefix="*", destination_port_range="22")]), where=f"({region})")
        self._call(self.network.virtual_networks.begin_create_or_update, rg, f"vnet-{region}", nm.VirtualNetwork(
            location=region, tags=run_tags, address_space=nm.AddressSpace(address_prefixes=["10.42.0.0/16"]),
            subnets=[nm.Subnet(name="default", address_prefix="10.42.0.0/24")]), where=f"({region})")

    def resolve_image(self, region: str, image: str) -> str:
        """The marketplace image an alias or publisher:offer:sku:version names, as that string with the version
        the region lists (the newest for "latest"); refused when the region does not list it. An image id (a
        path) is taken as given."""
        ref = self._image(image)
        if "id" in ref:
            return ref["id"]
        try:
            versions = [v.name for v in self._call(self.compute.virtual_machine_images.list, region,
                                                    ref["publisher"], ref["offer"], ref["sku"],
                                                    where=f"(image {image} in {region})") or []]
        except ProviderError as exc:
            if exc.kind not in (NOT_FOUND, BAD_REQUEST):
                raise
            versions = []
        want = [v for v in versions if ref["version"] in ("latest", v)]
        if not want:
            raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r}: {ref['publisher']}:{ref['offer']}:"
                                f"{ref['sku']}:{ref['version']} is not listed in {region}; give an image that is "
                                f"(az vm image list --location {region} --all), or one of {', '.join(IMAGES)}", NAME)
        best = max(want, key=lambda v: tuple(int(x) if x.isdigit() else 0 for x in v.split(".")))
        return f"{ref['publisher']}:{ref['offer']}:{ref['sku']}:{best}"

    def _image(self, image: str) -> dict:
        if image.startswith("/"):
            return {"id": image}
        if image.count(":") == 3:
            publisher, offer, sku, version = image.split(":")
            return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}
        if image not in IMAGES:
            raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r}: give publisher:offer:sku:version, "
                                f"an image id, or one of {', '.join(IMAGES)}", NAME)
        publisher, offer, sku = IMAGES[image]
        return {"publisher": publisher, "offer": offer, "sku": sku, "version": "latest"}

    def create(self, req: LaunchRequest) -> Instance:
        from azure.mgmt.compute import models as cm
        from azure.mgmt.network import models as nm

        rg, region, name = _rg(req.run), req.region, req.host
        where = f"({region}{' zone ' + req.zone if req.zone else ''})"
        if (req.expires_at - datetime.now(timezone.utc)).total_seconds() > MAX_HOURS * 3600 + 300:
            raise ProviderError(BAD_REQUEST, "ExpiryOverADay", f"expiry {req.expires_at:%Y-%m-%d %H:%M} UTC is more "
                                f"than {MAX_HOURS:.0f} hours away: Azure's auto-shutdown, which deallocates the VM at "
                                "expiry, repeats daily; set the system's cloud.expires_h to 24 or less", NAME)
        zones = [req.zone] if req.zone else None
        subnet = self._call(self.network.subnets.get, rg, f"vnet-{region}", "default", where=where)
        nsg = self._call(self.network.network_security_groups.get, rg, f"nsg-{region}", where=where)
        ip = self._call(self.network.public_ip_addresses.begin_create_or_update, rg, f"{name}-ip", nm.PublicIPAddress(
            location=region, tags=req.tags, sku=nm.PublicIPAddressSku(name="Standard"),
            public_ip_allocation_method="Static", zones=zones), where=where)
        nic = self._call(self.network.network_interfaces.begin_create_or_update, rg, f"{name}-nic",
                         nm.NetworkInterface(location=region, tags=req.tags,
                                             network_security_group=nm.NetworkSecurityGroup(id=nsg.id),
                                             ip_configurations=[nm.NetworkInterfaceIPConfiguration(
                                                 name="ip", subnet=nm.Subnet(id=subnet.id),
                                                 public_ip_address=nm.PublicIPAddress(id=ip.id))]), where=where)
        vm = cm.VirtualMachine(
            location=region, tags=req.tags, zones=zones,
            hardware_profile=cm.HardwareProfile(vm_size=req.instance_type),
            storage_profile=cm.StorageProfile(image_reference=cm.ImageReference(**self._image(req.image)),
                                              os_disk=cm.OSDisk(create_option="FromImage", delete_option="Delete",
                                                                disk_size_gb=req.disk_gb)),
            os_profile=cm.OSProfile(
                computer_name=name, admin_username=req.ssh_user,
                custom_data=base64.b64encode(req.user_data().encode()).decode(),
                linux_configuration=cm.LinuxConfiguration(
                    disable_password_authentication=True, ssh=cm.SshConfiguration(public_keys=[cm.SshPublicKey(
                        path=f"/home/{req.ssh_user}/.ssh/authorized_keys", key_data=req.public_key)]))),
            network_profile=cm.NetworkProfile(network_interfaces=[cm.NetworkInterfaceReference(
                id=nic.id, delete_option="Delete")]),
            security_profile=cm.SecurityProfile(encryption_at_host=True),
        )
        if req.spot:
            vm.priority, vm.eviction_policy = "Spot", "Delete"
            vm.billing_profile = cm.BillingProfile(max_price=-1)
        try:
            out = self._call(self.compute.virtual_machines.begin_create_or_update, rg, name, vm, where=where)
        except ProviderError as exc:
            if "encryptionathost" in str(exc).lower():
                exc.args = (f"{exc.args[0]}; benchfleet asks for encryption at host: enable it once for the "
                            "subscription with `az feature register --namespace Microsoft.Compute --name "
                            "EncryptionAtHost`",)
            # the VM was refused: its NIC and IP would wait for the group's delete; free them now
            for fn, n in ((self.network.network_interfaces.begin_delete, f"{name}-nic"),
                          (self.network.public_ip_addresses.begin_delete, f"{name}-ip")):
                try:
                    self._call(fn, rg, n)
                except ProviderError:
                    pass
            raise
        try:
            self._deallocate_at_expiry(rg, req, out.id, where)
        except ProviderError as exc:  # no VM without its last line: delete it (its NIC and disk go with it)
            for fn, n in ((self.compute.virtual_machines.begin_delete, name),
                          (self.network.public_ip_addresses.begin_delete, f"{name}-ip")):
                try:
                    self._call(fn, rg, n)
                except ProviderError:
                    pass
            exc.args = (f"{exc.args[0]}; the VM's auto-shutdown schedule (deallocation at expiry) could not be made, "
                        "so the VM was deleted again. If the subscription has never used it, register the provider "
                        "once: `az provider register --namespace Microsoft.DevTestLab`",)
            raise
        return self._instance(rg, out, ip.ip_address or "", (nic.ip_configurations[0].private_ip_address or ""))

    def shutdown_schedule_id(self, rg: str, name: str) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{rg}/providers/Microsoft.DevTestLab/schedules/"
                f"shutdown-computevm-{name}")

    def _deallocate_at_expiry(self, rg: str, req: LaunchRequest, vm_id: str, where: str) -> None:
        """Azure's auto-shutdown schedule for the VM at its expiry's time of day (UTC): it deallocates."""
        from azure.mgmt.resource.resources.models import GenericResource

        run_tags = {k: v for k, v in req.tags.items() if k in (TAG_RUN, TAG_EXPIRES, TAG_OWNER, TAG_HOST)}
        self._call(self.resources.resources.begin_create_or_update_by_id,
                   self.shutdown_schedule_id(rg, req.host), GenericResource(
                       location=req.region, tags=run_tags, properties={
                           "status": "Enabled", "taskType": "ComputeVmShutdownTask",
                           "dailyRecurrence": {"time": req.expires_at.astimezone(timezone.utc).strftime("%H%M")},
                           "timeZoneId": "UTC", "targetResourceId": vm_id,
                           "notificationSettings": {"status": "Disabled"}}),
                   api_version=SHUTDOWN_API, where=where)

    def _instance(self, rg: str, vm, public_ip: str = "", private_ip: str = "", power: str = "") -> Instance:
        t = vm.tags or {}
        state = _STATES.get((vm.provisioning_state or "").lower(), "pending")
        if state == "running" and power in _POWER:
            state = _POWER[power]
        return Instance(
            provider=NAME, id=vm.name, host=t.get(TAG_HOST, ""), system=t.get(TAG_SYSTEM, ""), run=t.get(TAG_RUN, ""),
            region=vm.location, zone=(vm.zones or [""])[0], instance_type=vm.hardware_profile.vm_size,
            state=state, public_ip=public_ip,
            private_ip=private_ip, spot=(vm.priority or "").lower() == "spot",
            launched_at=vm.time_created.strftime("%Y-%m-%dT%H:%M:%SZ") if getattr(vm, "time_created", None) else "",
            expires=t.get(TAG_EXPIRES, ""), owner=t.get(TAG_OWNER, ""), extra={"resource_group": rg},
        )

    def _groups(self, run: str | None) -> list:
        flt = f"tagName eq '{TAG_RUN}'" + (f" and tagValue eq '{run}'" if run else "")
        return self._call(lambda: list(self.resources.resource_groups.list(filter=flt)))

    def list(self, regions: list[str], run: str | None = None) -> list[Instance]:
        out = []
        for g in self._groups(run):
            for vm in self._call(lambda n=g.name: list(self.compute.virtual_machines.list(n))):
                pub = priv = power = ""
                try:
                    pub = self._call(self.network.public_ip_addresses.get, g.name, f"{vm.name}-ip").ip_address or ""
                    nic = self._call(self.network.network_interfaces.get, g.name, f"{vm.name}-nic")
                    priv = nic.ip_configurations[0].private_ip_address or ""
                except ProviderError:
                    pass
                try:  # a VM its auto-shutdown deallocated is still listed, as stopped
                    view = self._call(self.compute.virtual_machines.instance_view, g.name, vm.name)
                    power = next((st.code.split("/", 1)[1] for st in view.statuses or []
                                  if (st.code or "").startswith("PowerState/")), "")
                except ProviderError:
                    pass
                out.append(self._instance(g.name, vm, pub, priv, power))
        return out

    def delete_instances(self, instances: list[Instance]) -> None:
        for i in instances:
            try:
                self._call(self.compute.virtual_machines.begin_delete, i.extra.get("resource_group") or _rg(i.run),
                           i.id)
            except ProviderError as exc:
                if exc.kind != NOT_FOUND:
                    raise

    def cleanup(self, regions: list[str], run: str | None = None, expired_before: datetime | None = None,
                dry_run: bool = False, owner: str | None = None, grace_s: float = 0) -> list[str]:
        """The run's resource group (one delete takes its NICs, IPs, NSGs, disks and network with it)."""
        done = []
        live = {i.run for i in self.list([])} if not run else set()
        for g in self._groups(run):
            if not leftover(g.tags or {}, run, expired_before, live, owner, grace_s):
                continue
            done.append(f"azure:{g.location}:resource-group/{g.name}")
            if not dry_run:
                try:
                    self._call(self.resources.resource_groups.begin_delete, g.name)
                except ProviderError as exc:
                    if exc.kind != NOT_FOUND:
                        raise
        return done
