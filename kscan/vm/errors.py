"""What stops `kscan vm` before there is anything to compare (exit 2)."""


class VmSetupError(Exception):
    """QEMU, the kernel image, busybox or the layout cannot be used; one line."""
