#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Validates Kubernetes manifests offline against the API's own types: the
models of Debian's python3-kubernetes (generated from the Kubernetes OpenAPI
specification of its release), which know every field's name and type and
refuse a missing required field or a value out of an enum. No API server and
no kubelet are involved, so admission, defaulting and the node's acceptance are
not checked. Prints one line per error; exit 1 if any, 2 if it cannot run.
Debian's python3 (/usr/bin/python3), where the package installs."""
import re
import sys

try:
    import kubernetes
    import yaml
    from kubernetes import client
except ImportError as e:
    print(f"k8s_schema: {e} (install python3-kubernetes)", file=sys.stderr)
    sys.exit(2)

PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object,
             "datetime": str, "date": str}


def walk(value, typ, path, errors):
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: a list expected")
            return
        for i, v in enumerate(value):
            walk(v, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: a map expected")
            return
        for k, v in value.items():
            walk(v, m.group(1), f"{path}.{k}", errors)
        return
    if typ in PRIMITIVE:
        if isinstance(value, bool) and typ in ("int", "float"):
            errors.append(f"{path}: {typ} expected, not a boolean")
        elif not isinstance(value, PRIMITIVE[typ]):
            errors.append(f"{path}: {typ} expected, not {type(value).__name__}")
        return
    cls = getattr(client, typ, None)
    if cls is None:
        errors.append(f"{path}: unknown type {typ}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: an object ({typ}) expected")
        return
    by_key = {k: a for a, k in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in by_key:
            errors.append(f"{path}: unknown field {k!r} in {typ}")
        else:
            walk(v, cls.openapi_types[by_key[k]], f"{path}.{k}", errors)


def validate(doc):
    api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    group, _, version = api_version.rpartition("/")
    # the group's API (CoreV1Api, AppsV1Api, ...) and the kind's model (V1DaemonSet)
    api = "".join(p.capitalize() for p in (group or "core").split(".")[0].split("-"))
    api += f"{version.capitalize()}Api"
    typ = f"{version.capitalize()}{kind}"
    if not hasattr(client, api) or not hasattr(client, typ):
        return [f"{kind} ({api_version}): no such kind in the API ({api}, {typ})"]
    errors = []
    walk(doc, typ, kind, errors)
    if not errors:
        # the models' own checks: required fields, enums
        try:
            client.ApiClient()._ApiClient__deserialize(doc, typ)
        except (ValueError, TypeError) as e:
            errors.append(f"{kind}: {e}")
    return errors


def main():
    errors = []
    n = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                n += 1
                errors += [f"{path}: {e}" for e in validate(doc)]
    for e in errors:
        print(e)
    print(f"k8s_schema: {n} objects, {len(errors)} errors, python3-kubernetes "
          f"{kubernetes.__version__}", file=sys.stderr)
    return 1 if errors or not n else 0


if __name__ == "__main__":
    sys.exit(main())
