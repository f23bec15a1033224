#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_textfile
short_description: Write metrics for the Prometheus node exporter's textfile collector, atomically
version_added: 0.1.0
description:
  - Writes O(metrics) in the Prometheus text exposition format to O(path), a C(.prom) file in the folder the node
    exporter's textfile collector reads (C(--collector.textfile.directory)), for example the expiry of the Wise client
    certificates that M(wise.mtls.generation_info) reports.
  - The file is written through the collection's safe-write path - a temp file in the same folder whose name ends in
    C(.tmp), renamed over the destination - so the collector, which reads only files ending in C(.prom), never sees a
    half-written file.
  - Metric and label names are checked against Prometheus's rules, label values escaped; the file is rewritten only
    when its content changes.
author:
  - wise.mtls contributors (@wise-mtls)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the file's content before and after.
  platform:
    platforms: posix
extends_documentation_fragment:
  - wise.mtls.attributes
  - wise.mtls.files
options:
  path:
    description:
      - The file to write; its name must end in C(.prom). The folder must exist.
    type: path
    required: true
  state:
    description:
      - V(present) writes the file, V(absent) removes it (for example when a host stops using Wise).
    type: str
    choices: [present, absent]
    default: present
  metrics:
    description:
      - The metric families, in the order they are written.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The metric name, for example V(wise_mtls_certificate_not_after_seconds).
        type: str
        required: true
      help:
        description:
          - The C(# HELP) text.
        type: str
        default: ""
      type:
        description:
          - The C(# TYPE) of the metric.
        type: str
        choices: [gauge, counter, untyped]
        default: gauge
      samples:
        description:
          - The samples, each a dict with C(labels) (a dict of label names and values, optional) and C(value) (a
            number).
        type: list
        elements: dict
        default: []
  mode:
    description:
      - Mode of the file, as an octal string; the node exporter must be able to read it.
    type: raw
    default: '0644'
seealso:
  - module: wise.mtls.generation_info
  - name: The node exporter's textfile collector
    description: How the node exporter reads C(.prom) files.
    link: https://github.com/prometheus/node_exporter#textfile-collector
"""

EXAMPLES = r"""
- name: Read the live Wise client certificate
  wise.mtls.generation_info:
    path: /etc/wise-mtls/production
  register: wise_generations

- name: Export its expiry for the node exporter
  wise.mtls.prometheus_textfile:
    path: /var/lib/prometheus/node-exporter/wise_mtls.prom
    metrics:
      - name: wise_mtls_certificate_not_after_seconds
        help: Expiry of the live Wise client certificate, seconds since the epoch.
        samples:
          - labels:
              environment: production
              fingerprint: "{{ wise_generations.live.certificate.fingerprint }}"
            value: "{{ wise_generations.live.certificate.not_after_timestamp }}"
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/wise_mtls.prom
content:
  description: The content of the file (written, or that would be written in check mode); V(null) with O(state=absent).
  returned: success
  type: str
  sample: "# HELP wise_mtls_certificate_not_after_seconds Expiry.\n# TYPE wise_mtls_certificate_not_after_seconds gauge\n..."
samples:
  description: How many samples the file holds.
  returned: success
  type: int
  sample: 2
"""

import math
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.wise.mtls.plugins.module_utils import _safe_file as safe_file

METRIC_NAME_RE = re.compile(r"\A[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"\A[a-zA-Z_][a-zA-Z0-9_]*\Z")


class MetricError(Exception):
    pass


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            metrics=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                help=dict(type="str", default=""),
                type=dict(type="str", choices=["gauge", "counter", "untyped"], default="gauge"),
                samples=dict(type="list", elements="dict", default=[]),
            )),
            mode=dict(type="raw", default="0644"),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    if not path.endswith(".prom"):
        module.fail_json(msg="{0} does not end in .prom, so the node exporter's textfile collector would not read it. "
                             "Nothing was changed.".format(path), path=path)
    try:
        content, count = render(params["metrics"]) if params["state"] == "present" else (None, 0)
        wanted = safe_file.FileAttributes(params["mode"], params["owner"], params["group"])
        with safe_file.locked(path):
            module.exit_json(**ensure(module, path, content, count, wanted))
    except MetricError as exc:
        module.fail_json(msg="{0} Nothing was changed.".format(exc), path=path)
    except safe_file.SafeFileError as exc:
        module.fail_json(msg=to_native(exc), path=path)


def ensure(module, path, content, count, wanted):
    safe_file.check_parent(path)
    current = safe_file.FileState(path)
    existing = current.read()
    data = None if content is None else to_bytes(content)
    content_change = existing != data
    attributes_change = data is not None and current.exists and current.attributes_differ(wanted)
    result = dict(changed=content_change or attributes_change, path=path, content=content, samples=count)
    if module._diff:
        result["diff"] = dict(before=to_native(existing) if existing is not None else "",
                              after=content if content is not None else "", before_header=path, after_header=path)
    if module.check_mode or not result["changed"]:
        return result
    if data is None:
        safe_file.remove_file(path)
    elif content_change:
        safe_file.write_file(module, path, data, wanted)
    else:
        safe_file.apply_attributes(path, wanted)
    return result


def render(metrics):
    """(text in the exposition format, number of samples); MetricError names the first problem."""
    lines = []
    seen = set()
    count = 0
    for metric in metrics:
        name = metric["name"]
        if not METRIC_NAME_RE.match(name):
            raise MetricError("{0!r} is not a Prometheus metric name (letters, digits, '_' and ':', not starting with a "
                              "digit).".format(name))
        if name in seen:
            raise MetricError("The metric {0} is given twice; give its samples in one entry.".format(name))
        seen.add(name)
        if metric["help"]:
            lines.append("# HELP {0} {1}".format(name, metric["help"].replace("\\", "\\\\").replace("\n", "\\n")))
        lines.append("# TYPE {0} {1}".format(name, metric["type"]))
        for sample in metric["samples"]:
            if not isinstance(sample, dict) or "value" not in sample:
                raise MetricError("A sample of {0} has no value: give each sample as {{labels: {{...}}, value: "
                                  "<number>}}.".format(name))
            lines.append("{0}{1} {2}".format(name, render_labels(name, sample.get("labels") or {}),
                                             render_value(name, sample["value"])))
            count += 1
    return "".join(line + "\n" for line in lines), count


def render_labels(name, labels):
    if not isinstance(labels, dict):
        raise MetricError("The labels of a sample of {0} must be a dict of names and values.".format(name))
    parts = []
    for label in sorted(labels):
        if not LABEL_NAME_RE.match(str(label)) or str(label).startswith("__"):
            raise MetricError("{0!r} (a label of {1}) is not a Prometheus label name (letters, digits and '_', not "
                              "starting with a digit or '__').".format(label, name))
        value = "" if labels[label] is None else to_native(labels[label])
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append('{0}="{1}"'.format(label, value))
    return "{" + ",".join(parts) + "}" if parts else ""


def render_value(name, value):
    if isinstance(value, bool):
        return "1" if value else "0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MetricError("The value {0!r} of a sample of {1} is not a number.".format(value, name)) from None
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return str(int(number)) if number.is_integer() and abs(number) < 2 ** 63 else repr(number)


if __name__ == "__main__":
    main()
