"""Fixed pathological inputs: config.json that is not a plain file or is huge or deeply
nested, a rootfs that leads out of the bundle, odd container ids. Each is a function
`make(cid) -> harness.Case`; `ODDITIES` lists them by name, `MUST_REFUSE` those that
must be refused."""

import json
import os
import shutil

from tests.fuzz.harness import Case, CaseDir
from tests.fuzz.mutations import base_doc, resolve


def config_doc(d: CaseDir, cid: str) -> dict:
    return resolve(base_doc("create"), d, cid)


def _replace_config(make_it):
    """A `prepare` that writes the default config, then puts `make_it(d)` in its place."""
    def prepare(d: CaseDir):
        make_it(d)
    return prepare


def fifo(cid):
    return Case(cid, prepare=_replace_config(lambda d: os.mkfifo(d.config)),
                label="config.json is a FIFO", timeout=5)


def dev_zero(cid):
    return Case(cid, prepare=_replace_config(lambda d: os.symlink("/dev/zero", d.config)),
                label="config.json -> /dev/zero")


def dev_null(cid):
    return Case(cid, prepare=_replace_config(lambda d: os.symlink("/dev/null", d.config)),
                label="config.json -> /dev/null")


def directory(cid):
    return Case(cid, prepare=_replace_config(lambda d: d.config.mkdir()),
                label="config.json is a directory")


def dangling(cid):
    return Case(cid, prepare=_replace_config(
        lambda d: os.symlink(d.path / "nonexistent", d.config)), label="config.json dangles")


def loop(cid):
    return Case(cid, prepare=_replace_config(lambda d: os.symlink("config.json", d.config)),
                label="config.json is a symlink loop")


def huge(cid):
    """50 MB: the default config with one 50 MB annotation."""
    def make(d):
        doc = config_doc(d, cid)
        doc["annotations"] = {"org.example.big": "x" * (50 << 20)}
        return json.dumps(doc).encode()
    return Case(cid, config=make, label="config.json of 50 MB (one annotation)")


def huge_whitespace(cid):
    def make(d):
        return b" " * (50 << 20) + json.dumps(config_doc(d, cid)).encode()
    return Case(cid, config=make, label="config.json of 50 MB (leading whitespace)")


def nested(depth):
    def make_case(cid):
        def make(d):
            doc = json.dumps(config_doc(d, cid)).encode()
            return b'{"x-deep":' + b"[" * depth + b"]" * depth + b"," + doc[1:]
        return Case(cid, config=make, label=f"an unknown field nested {depth} deep")
    return make_case


def nested_top(cid):
    return Case(cid, config=b"[" * 100_000 + b"]" * 100_000,
                label="config.json: 100000 nested arrays")


def nested_objects(cid):
    depth = 100_000
    return Case(cid, config=b'{"a":' * depth + b"1" + b"}" * depth,
                label="config.json: 100000 nested objects")


def empty(cid):
    return Case(cid, config=b"", label="config.json is empty")


def null_doc(cid):
    return Case(cid, config=b"null", label="config.json is null")


def bom(cid):
    return Case(cid, config=lambda d: b"\xef\xbb\xbf" + json.dumps(config_doc(d, cid)).encode(),
                label="config.json starts with a UTF-8 byte order mark")


def utf16(cid):
    return Case(cid, config=lambda d: json.dumps(config_doc(d, cid)).encode("utf-16"),
                label="config.json in UTF-16")


def invalid_utf8(cid):
    def make(d):
        doc = config_doc(d, cid)
        doc["annotations"] = {"k": "@X@"}
        return json.dumps(doc).encode().replace(b"@X@", b"\xff\xfe")
    return Case(cid, config=make, label="config.json with invalid UTF-8 in a string")


def rootfs_symlink_out(cid):
    """bundle/rootfs is a symlink to a busybox tree outside the bundle (runc: "invalid
    rootfs")."""
    def prepare(d: CaseDir):
        outside = d.path / "outside-rootfs"
        d.rootfs.rename(outside)
        os.symlink(outside, d.rootfs)
    return Case(cid, config=lambda d: config_doc(d, cid), prepare=prepare,
                label="root.path: a symlink leading out of the bundle")


def rootfs_symlink_in(cid):
    """bundle/rootfs -> bundle/real-rootfs: inside the bundle, fine for runc."""
    def prepare(d: CaseDir):
        d.rootfs.rename(d.bundle / "real-rootfs")
        os.symlink("real-rootfs", d.rootfs)
    return Case(cid, config=lambda d: config_doc(d, cid), prepare=prepare,
                label="root.path: a symlink inside the bundle")


def rootfs_symlink_loop(cid):
    def prepare(d: CaseDir):
        shutil.rmtree(d.rootfs)
        os.symlink("rootfs", d.rootfs)
    return Case(cid, config=lambda d: config_doc(d, cid), prepare=prepare,
                label="root.path: a symlink loop")


def rootfs_is_file(cid):
    def prepare(d: CaseDir):
        shutil.rmtree(d.rootfs)
        d.rootfs.write_text("not a directory\n")
    return Case(cid, config=lambda d: config_doc(d, cid), prepare=prepare,
                label="root.path: a regular file")


def odd_id(container_id, name):
    def make_case(cid):
        return Case(cid, config=lambda d: config_doc(d, cid), id_arg=container_id,
                    label=f"container id {name}")
    return make_case


# What must be refused (the others may also be accepted): runc refuses each of these too,
# but for the FIFO, on which runc hangs.
MUST_REFUSE = {
    "config-fifo", "config-dev-zero", "config-dev-null", "config-directory",
    "config-dangling-symlink", "config-symlink-loop", "config-nested-arrays-top",
    "config-nested-objects-top", "config-empty", "config-null", "config-bom", "config-utf16",
    "rootfs-symlink-out", "rootfs-symlink-loop", "rootfs-is-file", "id-dotdot", "id-dot",
    "id-slash", "id-dotdot-slash", "id-empty", "id-long", "id-unicode", "id-nul", "id-dash",
    "id-newline",
}

ODDITIES = {
    "config-fifo": fifo,
    "config-dev-zero": dev_zero,
    "config-dev-null": dev_null,
    "config-directory": directory,
    "config-dangling-symlink": dangling,
    "config-symlink-loop": loop,
    "config-50MB": huge,
    "config-50MB-whitespace": huge_whitespace,
    "config-nested-1000": nested(1000),
    "config-nested-100000": nested(100_000),
    "config-nested-arrays-top": nested_top,
    "config-nested-objects-top": nested_objects,
    "config-empty": empty,
    "config-null": null_doc,
    "config-bom": bom,
    "config-utf16": utf16,
    "config-invalid-utf8": invalid_utf8,
    "rootfs-symlink-out": rootfs_symlink_out,
    "rootfs-symlink-in": rootfs_symlink_in,
    "rootfs-symlink-loop": rootfs_symlink_loop,
    "rootfs-is-file": rootfs_is_file,
    "id-dotdot": odd_id("..", '".."'),
    "id-dot": odd_id(".", '"."'),
    "id-slash": odd_id("a/b", '"a/b"'),
    "id-dotdot-slash": odd_id("../x", '"../x"'),
    "id-empty": odd_id("", "empty"),
    "id-long": odd_id("x" * 5000, "of 5000 characters"),
    "id-unicode": odd_id("é", '"é"'),
    "id-nul": odd_id("a\udc80b", "with a byte that is not UTF-8"),
    "id-dash": odd_id("-x", '"-x"'),
    "id-newline": odd_id("a\nb", "with a newline"),
}
