"""NAT for bridge networking: masquerade and published ports, in nftables table `ip pyrun`.

Written as nft(8) scripts fed to `nft -f -`, one atomic transaction per call; listed with
`nft -j`. (pyroute2 has a netlink socket for nf_tables, but no helpers for the expressions
needed here, fib, ct, nat, payload matches: each rule would be hand-assembled register by
register. The `nft` program from Debian's nftables package does that, checked and atomic.)

Layout: the table holds only base chains, each owned by one thing, so that removing it
(flush + delete, in one transaction) can never touch anybody else's rules, and no rule handle
or jump rule needs to be remembered:

    table ip pyrun
      chain br-<bridge>-post   nat postrouting 100: masquerade
          ip saddr SUBNET oifname != BRIDGE masquerade       containers going out
          oifname BRIDGE ip saddr SUBNET ct status dnat masquerade
                                                             a container reaching a published
                                                             port (hairpin): replies come back
                                                             through the host
          oifname BRIDGE ip saddr 127.0.0.0/8 masquerade     the host's 127.0.0.1:PORT
      chain br-<bridge>-guard  filter prerouting -300: iifname BRIDGE ip daddr 127.0.0.0/8 drop
      chain ctr-<key>-pre      nat prerouting -100: DNAT of one container's published ports,
      chain ctr-<key>-out      nat output -100: the same for connections made on the host itself
          fib daddr type local tcp dport HOSTPORT dnat to ADDR:PORT   (any local address)
          ip daddr HOSTIP tcp dport HOSTPORT dnat to ADDR:PORT        (--publish HOSTIP:...)

Localhost: `--publish 8080:80` answers on 127.0.0.1:8080 too, as Docker's does. The output
chain DNATs it; the kernel routes a packet from 127.0.0.1 out of a real interface only when
that interface has route_localnet=1 (set on the bridge alone, by the caller: see
`pyrun.linux.netlink.set_route_localnet`), and the masquerade above gives it the bridge's
address so the container can answer. route_localnet would also let a container send packets to
the host's 127.0.0.1 through the bridge (CVE-2020-8558): the guard chain drops those before
conntrack (priority -300), so that replies to masqueraded connections still pass.

Not done here: a forward-chain accept. A host whose own firewall drops forwarded traffic must
allow the bridge (an accept in another table cannot override a drop elsewhere).
"""

import _socket  # not `socket` (it imports enum), and `subprocess` only when nft runs
import os

from pyrun.errors import PyrunError

FAMILY = "ip"
TABLE = "pyrun"
PRIO_DSTNAT = -100
PRIO_SRCNAT = 100
PRIO_RAW = -300
_NFT_PLACES = ("/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/usr/local/sbin/nft")
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class NftError(PyrunError):
    """An nftables operation failed: `what` names the table, chain or rule, `reason` why."""


_nft_path: str | None = None


def nft_program() -> str:
    """The nft executable (memoized), or NftError saying what to install."""
    global _nft_path
    if _nft_path is None:
        dirs = os.environ.get("PATH", "").split(":")
        for candidate in [os.path.join(d, "nft") for d in dirs if d] + list(_NFT_PLACES):
            if os.access(candidate, os.X_OK):
                _nft_path = candidate
                break
        else:
            raise NftError("nft", "program not found: install nftables (apt-get install nftables)")
    return _nft_path


def _die_with(parent: int) -> None:
    """In nft's child, before exec: be killed when pyrun dies. Otherwise a pyrun killed
    (kill -9) mid-setup leaves an nft that may commit its rules *after* the `delete --force`
    that cleans up. A transaction is atomic: nft killed before or during it commits nothing
    or everything, and either way it is over once pyrun is reaped."""
    import _prctl

    _prctl.prctl(_prctl.PR_SET_PDEATHSIG, 9)
    if os.getppid() != parent:  # died before the line above
        os._exit(1)


class Pending:
    """An nft transaction running in its own process: `start()` it, do other work (netlink,
    say) meanwhile, then `wait()` for it. Its cost is mostly the kernel's commit (removing
    rules waits for an RCU grace period, ~15 ms), not the exec: libnftables called in process
    measured the same."""

    def __init__(self, script: str, what: str):
        import subprocess

        self.what = what
        parent = os.getpid()
        try:
            self._p = subprocess.Popen([nft_program(), "-f", "-"], stdin=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       preexec_fn=lambda: _die_with(parent))
        except OSError as e:
            raise NftError("nft", os.strerror(e.errno) if e.errno else str(e)) from None
        try:
            self._p.stdin.write(script.encode())
            self._p.stdin.close()
        except BrokenPipeError:
            pass  # nft failed early; wait() reports why

    def wait(self) -> None:
        err = self._p.stderr.read()
        self._p.stderr.close()
        if self._p.wait() != 0:
            raise NftError(self.what, _first_error(err.decode(errors="replace")))


def start(script: str, what: str = f"nftables table {FAMILY} {TABLE}") -> Pending:
    return Pending(script, what)


def run(script: str, what: str = f"nftables table {FAMILY} {TABLE}") -> None:
    """Apply `script` (nft -f syntax) as one transaction: all of it or nothing."""
    Pending(script, what).wait()


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "Error:" in line:
            return line.split("Error:", 1)[1].strip()
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[0].strip() if lines else "nft failed"


def list_ruleset(table: str = TABLE) -> list[dict]:
    """`nft -j list table ip TABLE` as a list of {"chain": {...}} / {"rule": {...}} objects;
    [] when the table does not exist."""
    import json
    import subprocess

    p = subprocess.run([nft_program(), "-j", "list", "table", FAMILY, table],
                       capture_output=True, check=False)
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace")
        if "No such file or directory" in err:
            return []
        raise NftError(f"nftables table {FAMILY} {table}", _first_error(err))
    return json.loads(p.stdout)["nftables"]


def chains(table: str = TABLE) -> list[str]:
    return [o["chain"]["name"] for o in list_ruleset(table) if "chain" in o]


def _name(what: str, value: str) -> str:
    if not value or not set(value) <= _SAFE or len(value) > 200:
        raise NftError(f'{what} "{value}"', "use letters, digits, _ - and . (nftables names)")
    return value


def _ipv4(what: str, text: str, prefix: bool = False) -> str:
    """`text` checked to be an IPv4 address (ADDRESS/PREFIX when `prefix`): it goes into a
    script, so nothing else may."""
    address, slash, length = text.partition("/")
    try:
        _socket.inet_pton(_socket.AF_INET, address)
        if prefix and not (slash and length.isdigit() and int(length) <= 32):
            raise ValueError
        if not prefix and slash:
            raise ValueError
    except (OSError, ValueError):
        expected = "an IPv4 ADDRESS/PREFIX" if prefix else "an IPv4 address"
        raise NftError(f'{what} "{text}"', f"expected {expected}") from None
    return text


def _quote(text: str) -> str:
    """A comment as an nft string: no quotes or newlines, at most 128 bytes."""
    clean = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in text)
    return '"' + clean.encode()[:127].decode(errors="ignore") + '"'


def _base_chain(table: str, chain: str, kind: str, hook: str, prio: int) -> str:
    return (f"add chain {FAMILY} {table} {chain} "
            f"{{ type {kind} hook {hook} priority {prio}; policy accept; }}\n")


def _remove_chain(table: str, chain: str, kind: str, hook: str, prio: int) -> str:
    """add (a no-op when present), flush, delete: removes the chain whether or not it exists,
    without failing the transaction."""
    return (_base_chain(table, chain, kind, hook, prio)
            + f"flush chain {FAMILY} {table} {chain}\n"
            + f"delete chain {FAMILY} {table} {chain}\n")


# --- per bridge

def bridge_chains(bridge: str) -> tuple[str, str]:
    _name("bridge", bridge)
    return f"br-{bridge}-post", f"br-{bridge}-guard"


def bridge_script(bridge: str, subnet: str, table: str = TABLE, localhost: bool = True) -> str:
    """(Re)write the bridge's masquerade and guard chains: flushed and refilled in the same
    transaction, so calling it again (each container does) changes nothing and never opens a
    gap."""
    post, guard = bridge_chains(bridge)
    _ipv4("subnet", subnet, prefix=True)
    br = _quote(bridge)
    s = f"add table {FAMILY} {table}\n"
    s += _base_chain(table, post, "nat", "postrouting", PRIO_SRCNAT)
    s += f"flush chain {FAMILY} {table} {post}\n"
    s += f"add rule {FAMILY} {table} {post} ip saddr {subnet} oifname != {br} masquerade\n"
    s += (f"add rule {FAMILY} {table} {post} oifname {br} ip saddr {subnet} "
          "ct status dnat masquerade\n")
    s += _base_chain(table, guard, "filter", "prerouting", PRIO_RAW)
    s += f"flush chain {FAMILY} {table} {guard}\n"
    if localhost:
        s += f"add rule {FAMILY} {table} {post} oifname {br} ip saddr 127.0.0.0/8 masquerade\n"
        s += f"add rule {FAMILY} {table} {guard} iifname {br} ip daddr 127.0.0.0/8 drop\n"
    return s


def apply_bridge(bridge: str, subnet: str, table: str = TABLE, localhost: bool = True) -> None:
    run(bridge_script(bridge, subnet, table, localhost), f"nftables rules of bridge {bridge}")


def remove_bridge_script(bridge: str, table: str = TABLE) -> str:
    post, guard = bridge_chains(bridge)
    return (f"add table {FAMILY} {table}\n"
            + _remove_chain(table, post, "nat", "postrouting", PRIO_SRCNAT)
            + _remove_chain(table, guard, "filter", "prerouting", PRIO_RAW))


def remove_bridge(bridge: str, table: str = TABLE) -> None:
    """Remove the bridge's chains; fine when they are already gone."""
    run(remove_bridge_script(bridge, table), f"nftables rules of bridge {bridge}")


def remove_table_script(table: str = TABLE) -> str:
    return f"add table {FAMILY} {table}\ndelete table {FAMILY} {table}\n"


def remove_table(table: str = TABLE) -> None:
    """Remove the whole table (every chain in it); fine when it is already gone."""
    run(remove_table_script(table))


# --- per container

def container_chains(key: str) -> tuple[str, str]:
    _name("container key", key)
    return f"ctr-{key}-pre", f"ctr-{key}-out"


def ports_script(key: str, address: str, ports, comment: str = "", table: str = TABLE) -> str:
    """The container's DNAT chains. `ports`: (proto, host_ip, host_port, container_port)
    tuples; host_ip "" means every local address of the host, 127.0.0.1 included."""
    pre, out = container_chains(key)
    _ipv4("container address", address)
    note = f" comment {_quote(comment)}" if comment else ""
    s = f"add table {FAMILY} {table}\n"
    for chain, hook in ((pre, "prerouting"), (out, "output")):
        s += _base_chain(table, chain, "nat", hook, PRIO_DSTNAT)
        s += f"flush chain {FAMILY} {table} {chain}\n"
        for proto, host_ip, host_port, container_port in ports:
            if proto not in ("tcp", "udp"):
                raise NftError(f"published port {host_port}/{proto}", "protocol is not tcp or udp")
            match = "fib daddr type local"
            if host_ip:
                match = f"ip daddr {_ipv4('host address', host_ip)}"
            s += (f"add rule {FAMILY} {table} {chain} {match} {proto} dport {int(host_port)} "
                  f"dnat to {address}:{int(container_port)}{note}\n")
    return s


def add_ports(key: str, address: str, ports, comment: str = "", table: str = TABLE) -> None:
    run(ports_script(key, address, ports, comment, table), f"published ports of {comment or key}")


def remove_ports_script(key: str, table: str = TABLE) -> str:
    pre, out = container_chains(key)
    return (f"add table {FAMILY} {table}\n"
            + _remove_chain(table, pre, "nat", "prerouting", PRIO_DSTNAT)
            + _remove_chain(table, out, "nat", "output", PRIO_DSTNAT))


def remove_ports(key: str, table: str = TABLE) -> None:
    """Remove one container's DNAT chains; fine when they are already gone."""
    run(remove_ports_script(key, table), f"published ports of {key}")
