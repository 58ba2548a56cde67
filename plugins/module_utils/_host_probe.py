# Copyright: benchfleet contributors
# Apache License 2.0
# Private to benchfleet.mlperf: other collections must not import it; it may change at any time.
"""Readers of /proc, /sys, /etc/os-release, dmidecode and nvidia-smi for the host_facts module.

Each reader returns what it could read and leaves the rest out (never guessed). Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess

from ansible_collections.benchfleet.mlperf.plugins.module_utils._cell_folder import read_text

PROBE = ("import importlib.util as u, json; "
         "print(json.dumps([m for m in ('benchfleet', 'mlperf_loadgen', 'onnxruntime') if u.find_spec(m) is None]))")


def _run(argv, timeout=10):
    if not shutil.which(argv[0]):
        return None
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def cpu():
    info = {}
    blocks = [b for b in read_text("/proc/cpuinfo").split("\n\n") if b.strip()]
    fields = [dict((k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in b.splitlines())) for b in blocks]
    first = fields[0] if fields else {}
    model = first.get("model name") or first.get("Model") or first.get("cpu model") or ""
    if model:
        info["cpu_model"] = model
    packages = {f.get("physical id") for f in fields if "physical id" in f}
    if not packages:
        ids = glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology/physical_package_id")
        packages = {read_text(p).strip() for p in ids}
        packages.discard("")
    if packages:
        info["sockets"] = len(packages)
    if first.get("cpu cores", "").isdigit():
        info["cores_per_socket"] = int(first["cpu cores"])
    info["vcpus"] = os.cpu_count()
    khz = read_text("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    if khz.isdigit():
        info["cpu_mhz"], info["cpu_mhz_source"] = round(int(khz) / 1000), "cpufreq maximum"
    elif first.get("cpu MHz"):
        info["cpu_mhz"], info["cpu_mhz_source"] = round(float(first["cpu MHz"])), "/proc/cpuinfo"
    caches = []
    for idx in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index[0-9]*")):
        level, kind, size = (read_text(f"{idx}/{n}").strip() for n in ("level", "type", "size"))
        if level and size:
            suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
            caches.append(f"L{level}{suffix} {size}")
    if caches:
        info["caches"] = ", ".join(caches)
    if "hypervisor" in first.get("flags", ""):
        info["virtualization"] = "guest"
    return info


def memory():
    info = {}
    m = re.search(r"MemTotal:\s+(\d+) kB", read_text("/proc/meminfo"))
    if m:
        info["mem_total_mb"] = int(m.group(1)) // 1024
    out = _run(["dmidecode", "-t", "memory"]) if os.geteuid() == 0 else None
    if out:
        dimms = []
        for dev in out.split("Memory Device")[1:]:
            f = dict((k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in dev.splitlines()) if _)
            size = f.get("Size", "")
            if not size or size.startswith(("No Module", "Not Installed", "0")):
                continue
            speed = f.get("Configured Memory Speed") or f.get("Speed") or ""
            dimms.append(" ".join(x for x in (size, f.get("Type", ""), speed) if x and x != "Unknown"))
        if dimms:
            counts = {}
            for d in dimms:
                counts[d] = counts.get(d, 0) + 1
            info["memory_configuration"] = ", ".join(f"{n}x {d}" for d, n in counts.items())
    return info


def storage():
    disks = []
    for dev in sorted(os.listdir("/sys/block")) if os.path.isdir("/sys/block") else []:
        if dev.startswith(("loop", "ram", "dm-", "sr", "zram", "md", "nbd")):
            continue
        sectors = read_text(f"/sys/block/{dev}/size").strip()
        if not sectors.isdigit() or int(sectors) == 0:
            continue
        rot = read_text(f"/sys/block/{dev}/queue/rotational").strip()
        if dev.startswith("nvme"):
            kind = "NVMe SSD"
        elif dev.startswith(("vd", "xvd")):
            kind = "virtual disk"
        else:
            kind = {"0": "SSD", "1": "HDD"}.get(rot, "")
        disks.append({"name": dev, "bytes": int(sectors) * 512, "type": kind})
    info = {"disks": disks}
    if disks:
        info["storage_bytes"] = sum(d["bytes"] for d in disks)
        kinds = sorted({d["type"] for d in disks if d["type"]})
        if kinds:
            info["storage_type"] = ", ".join(kinds)
    return info


def network():
    nics = []
    for n in sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else []:
        real = os.path.realpath(f"/sys/class/net/{n}")
        if n == "lo" or "/virtual/" in real:
            continue
        speed = read_text(f"/sys/class/net/{n}/speed").strip()
        driver = os.path.basename(os.path.realpath(f"/sys/class/net/{n}/device/driver"))
        nics.append({"name": n, "speed_mbps": int(speed) if speed.lstrip("-").isdigit() and int(speed) > 0 else None,
                     "up": read_text(f"/sys/class/net/{n}/operstate").strip() == "up",
                     "carrier": read_text(f"/sys/class/net/{n}/carrier").strip() == "1",
                     "driver": driver if os.path.isdir(f"/sys/class/net/{n}/device/driver") else ""})
    return {"nics": nics}


def power():
    """What a power result's system description asks for and the host can say: the CPU frequency governor,
    the root file system, the boot firmware (DMI)."""
    info = {}
    governors = sorted({read_text(f"/sys/devices/system/cpu/{c}/cpufreq/scaling_governor").strip()
                        for c in os.listdir("/sys/devices/system/cpu") if c[3:].isdigit() and c.startswith("cpu")}
                       - {""}) if os.path.isdir("/sys/devices/system/cpu") else []
    if governors:
        info["cpu_governor"] = ", ".join(governors)
    for line in read_text("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[1] == "/":
            info["root_filesystem"] = parts[2]
    bios = [read_text(f"/sys/class/dmi/id/{k}").strip() for k in ("bios_vendor", "bios_version", "bios_date")]
    if any(bios):
        info["boot_firmware"] = " ".join(x for x in bios if x)
    return info


def system():
    info = {"kernel": os.uname().release, "machine": os.uname().machine, "home": os.environ.get("HOME", "")}
    rel = dict(ln.split("=", 1) for ln in read_text("/etc/os-release").splitlines() if "=" in ln)
    name = rel.get("PRETTY_NAME", "").strip('"')
    if name:
        info["os"] = name
    # what package repositories fit this host (the NVIDIA role chooses from these)
    info["os_id"] = rel.get("ID", "").strip('"')
    info["os_version"] = rel.get("VERSION_ID", "").strip('"')
    info["os_like"] = rel.get("ID_LIKE", "").strip('"').split()
    virt = _run(["systemd-detect-virt"])
    if virt and virt.strip() not in ("none", ""):
        info["virtualization"] = "guest"
        info["virtualization_type"] = virt.strip()
    return info


def gpus():
    out = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"])
    found = []
    for line in (out or "").strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            found.append({"name": parts[0], "memory_mib": int(float(parts[1])), "driver": parts[2]})
    info = {"gpus": found}
    m = re.search(r"CUDA Version:\s*([\d.]+)", _run(["nvidia-smi"]) or "") if found else None
    if m:
        info["cuda_version"] = m.group(1)
    return info


def pci_gpus():
    """NVIDIA display/3D controllers on the PCI bus: present whether or not a driver is installed."""
    found = []
    base = "/sys/bus/pci/devices"
    for dev in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        vendor = read_text(f"{base}/{dev}/vendor").strip()
        klass = read_text(f"{base}/{dev}/class").strip()
        if vendor == "0x10de" and klass.startswith("0x03"):
            found.append({"slot": dev, "device": read_text(f"{base}/{dev}/device").strip()})
    return {"pci_gpus": found}


def probe(python):
    try:
        p = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"python": python, "ok": False, "missing": [], "error": str(exc)}
    if p.returncode != 0:
        return {"python": python, "ok": False, "missing": [], "error": p.stderr.strip()[-1000:]}
    missing = json.loads(p.stdout)
    return {"python": python, "ok": not missing, "missing": missing, "error": ""}


# host_facts calls each in turn; one that raises is reported in ``errors`` without hiding the others.
READERS = (cpu, memory, storage, network, system, gpus, pci_gpus, power)
