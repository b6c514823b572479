"""The guest's /init: collect what the kernel says about memory, run the probes, power off.

Everything goes to the serial console, each part between two sentinel lines:

    @@kscan-vm:begin:zoneinfo@@
    ...
    @@kscan-vm:end:zoneinfo:0@@        (the part's exit status)

and `@@kscan-vm:done@@` before the power-off, so the host can tell a finished run from
a guest that died.  The console log level drops to 1 once init runs, so kernel
messages do not interleave with the parts: the `dmesg` part, dumped last, holds them
all, and an oops still reaches the console (it raises the level itself).  A probe writes
a marker into the kernel log before and after it runs, so a splat is attributed to
the probe that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable

SENTINEL = "@@kscan-vm"
DONE = f"{SENTINEL}:done@@"
LOG_PART = "dmesg"  # the part that holds the kernel's log itself
PROBE_MARK = "kscan-vm: probe"  # "kscan-vm: probe NAME start|end" in the kernel log

_PRELUDE = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dmesg -n 1

part() {
    name=$1
    shift
    echo "@@kscan-vm:begin:$name@@"
    "$@" 2>&1
    echo "@@kscan-vm:end:$name:$?@@"
}

memory_blocks() {
    cd /sys/devices/system/memory || return 1
    echo "block_size_bytes $(cat block_size_bytes)"
    for block in memory[0-9]*; do
        echo "$block $(cat $block/phys_index) $(cat $block/state) $(cat $block/valid_zones)"
    done
    cd /
}
"""

# What the comparison reads, in this order.
COLLECTED = {
    "uptime": "cat /proc/uptime",
    "iomem": "cat /proc/iomem",
    "zoneinfo": "cat /proc/zoneinfo",
    "buddyinfo": "cat /proc/buddyinfo",
    "pagetypeinfo": "cat /proc/pagetypeinfo",
    "memory": "memory_blocks",
}


def init_script(probes: Iterable[tuple[str, str]] = ()) -> str:
    """/init for the guest; `probes` are (name, shell function body) pairs, run in order
    after the collection."""
    lines = [_PRELUDE]
    lines += [f"part {name} {command}" for name, command in COLLECTED.items()]
    for name, body in probes:
        lines += [
            f"probe_{name}() {{\n{body.rstrip()}\n}}",
            f'echo "{PROBE_MARK} {name} start" > /dev/kmsg',
            f"part probe:{name} probe_{name}",
            f'echo "{PROBE_MARK} {name} end" > /dev/kmsg',
        ]
    lines += [f"part {LOG_PART} dmesg", f"echo '{DONE}'", "poweroff -f", ""]
    return "\n".join(lines)
