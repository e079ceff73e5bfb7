"""The OCI config: config.json as plain, validated objects.

    model      every type of the spec (Config, Process, Mount, Resources, Hook, ...)
    model_linux  the types of the `linux` section
    parse      config.json -> model, each error naming its JSON path (process, linux:
               those sections; fields: the typed getters they use)
    defaults   what every container gets (device nodes, device allow-list), `pyrun spec`

Pure data: nothing here calls the kernel or imports pyrun.linux (an import-linter
contract holds it), so the labs, the CLI and the tests can use it anywhere.
"""

from pyrun.config.defaults import (
    created_nodes,
    default_spec,
    dev_nodes,
    device_allow_list,
    effective_rules,
)
from pyrun.config.linux import (
    device_rules_json,
    parse_device_rules,
    parse_resources,
    parse_seccomp,
)
from pyrun.config.model import Config, Hook, Mount, Process, capability_number
from pyrun.config.model_linux import Device, DeviceRule, Resources
from pyrun.config.parse import MAX_CONFIG_BYTES, load, parse, parse_hooks, parse_json
from pyrun.config.process import cpu_set, parse_capabilities, parse_process

__all__ = [
    "MAX_CONFIG_BYTES",
    "Config",
    "Device",
    "DeviceRule",
    "Hook",
    "Mount",
    "Process",
    "Resources",
    "capability_number",
    "cpu_set",
    "created_nodes",
    "default_spec",
    "dev_nodes",
    "device_allow_list",
    "device_rules_json",
    "effective_rules",
    "load",
    "parse",
    "parse_capabilities",
    "parse_device_rules",
    "parse_hooks",
    "parse_json",
    "parse_process",
    "parse_resources",
    "parse_seccomp",
]
