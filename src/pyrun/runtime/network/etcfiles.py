"""/etc/hosts, /etc/hostname and /etc/resolv.conf for a container with a network of its own,
written into its state directory and bind-mounted over the rootfs's by the init."""

import os

from pyrun.errors import PyrunError

# Docker's fallback when the host has no nameserver a container can reach.
DEFAULT_DNS = ("8.8.8.8", "8.8.4.4")


def hosts_content(hostname: str, address: str | None) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    if address:
        lines.append(f"{address}\t{hostname}")
    return "\n".join(lines) + "\n"


def _is_loopback(address: str) -> bool:
    address = address.split("%", 1)[0]
    return address.startswith("127.") or address in ("::1", "0:0:0:0:0:0:0:1")


def _nameservers(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1])
    return out


def resolv_content(host_text: str, fallback_text: str | None = None,
                   default_dns=DEFAULT_DNS) -> str:
    """The host's resolv.conf for a container, as Docker makes it: loopback nameservers
    (systemd-resolved's 127.0.0.53, a local dnsmasq) cannot be reached from the container's
    namespace and are left out. When that leaves none, the upstream list systemd-resolved
    keeps (`fallback_text`, /run/systemd/resolve/resolv.conf) is used instead, and failing
    that `default_dns`. search/options lines are kept."""
    servers = _nameservers(host_text)
    if servers and all(_is_loopback(s) for s in servers) and fallback_text:
        host_text = fallback_text
    out, kept = [], 0
    for line in host_text.splitlines():
        words = line.split()
        if words and words[0] == "nameserver":
            if len(words) < 2 or _is_loopback(words[1]):
                continue
            kept += 1
        out.append(line)
    if not kept:
        out += [f"nameserver {s}" for s in default_dns]
    return "\n".join(out).strip("\n") + "\n"


def _write_file(path: str, text: str) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)


def write_etc_files(directory: str, hostname: str, address: str | None,
                    resolv_conf: str = "/etc/resolv.conf",
                    resolved_conf: str = "/run/systemd/resolve/resolv.conf") -> dict:
    """Write hosts, hostname and resolv.conf into `directory` (for the caller to bind-mount
    over the container's /etc/...); returns {"/etc/hosts": path, ...}."""
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    files = {
        "hosts": hosts_content(hostname, address),
        "hostname": hostname + "\n",
        "resolv.conf": resolv_content(read(resolv_conf), read(resolved_conf) or None),
    }
    out = {}
    for name, text in files.items():
        path = os.path.join(directory, name)
        try:
            _write_file(path, text)
        except OSError as e:
            raise PyrunError(path, e.strerror or str(e)) from None
        out[f"/etc/{name}"] = path
    return out

