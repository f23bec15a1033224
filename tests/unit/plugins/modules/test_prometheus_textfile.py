# -*- coding: utf-8 -*-
# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""wise.mtls.prometheus_textfile: the exposition format, escaping, refusals, and a write the collector never
sees half-done (the only name ending in .prom is the finished file)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.wise.mtls.plugins.modules import prometheus_textfile
from ansible_collections.wise.mtls.tests.unit.helpers import file_mode, four_runs, read_bytes

METRICS = [
    dict(name="wise_mtls_certificate_not_after_seconds", help="Expiry of the live Wise client certificate.",
         samples=[dict(labels=dict(environment="sandbox", fingerprint="ab:cd"), value=1797181545),
                  dict(labels=dict(environment="production", fingerprint="ef:01"), value="1828000000")]),
    dict(name="wise_mtls_certificate_days_remaining", type="gauge", samples=[dict(labels={}, value=9.5)]),
    dict(name="wise_mtls_rotation_needed", samples=[dict(value=True)]),
]
EXPECTED = (
    "# HELP wise_mtls_certificate_not_after_seconds Expiry of the live Wise client certificate.\n"
    "# TYPE wise_mtls_certificate_not_after_seconds gauge\n"
    'wise_mtls_certificate_not_after_seconds{environment="sandbox",fingerprint="ab:cd"} 1797181545\n'
    'wise_mtls_certificate_not_after_seconds{environment="production",fingerprint="ef:01"} 1828000000\n'
    "# TYPE wise_mtls_certificate_days_remaining gauge\n"
    "wise_mtls_certificate_days_remaining 9.5\n"
    "# TYPE wise_mtls_rotation_needed gauge\n"
    "wise_mtls_rotation_needed 1\n"
)


def test_write_check_mode_and_idempotence(run_module, tmp_path):
    path = str(tmp_path / "wise_mtls.prom")
    results = four_runs(run_module, prometheus_textfile, dict(path=path, metrics=METRICS), str(tmp_path))
    assert read_bytes(path).decode("ascii") == EXPECTED
    assert file_mode(path) == 0o644
    assert results[0]["content"] == EXPECTED and results[1]["samples"] == 4
    assert results[0]["diff"]["before"] == "" and results[0]["diff"]["after"] == EXPECTED
    assert os.listdir(str(tmp_path)) == ["wise_mtls.prom"]


def test_the_collector_never_sees_a_partial_file(run_module, tmp_path, write_spy):
    path = str(tmp_path / "wise_mtls.prom")
    events = write_spy(tmp_path)
    assert run_module(prometheus_textfile, dict(path=path, metrics=METRICS))["changed"] is True
    written = [event["name"] for event in events if event["kind"] == "write"]
    assert written and all(name.endswith(".tmp") and not name.endswith(".prom") for name in written)


def test_label_values_are_escaped(run_module, tmp_path):
    path = str(tmp_path / "escaped.prom")
    run_module(prometheus_textfile, dict(path=path, metrics=[dict(name="m", help="a \\ b\nc", samples=[
        dict(labels=dict(text='say "hi"\\now\n'), value=-1)])]))
    assert read_bytes(path).decode("ascii") == (
        "# HELP m a \\\\ b\\nc\n# TYPE m gauge\n" 'm{text="say \\"hi\\"\\\\now\\n"} -1\n')


def test_changed_content_is_rewritten_and_absent_removes(run_module, tmp_path):
    path = str(tmp_path / "wise_mtls.prom")
    run_module(prometheus_textfile, dict(path=path, metrics=METRICS))
    changed = run_module(prometheus_textfile, dict(path=path, metrics=METRICS[:1], mode="0640"), diff=True)
    assert changed["changed"] is True and "days_remaining" in changed["diff"]["before"]
    assert file_mode(path) == 0o640
    four_runs(run_module, prometheus_textfile, dict(path=path, state="absent"), str(tmp_path))
    assert not os.path.exists(path)


@pytest.mark.parametrize("args, words", [
    (dict(path="/tmp/x.txt"), "does not end in .prom"),
    (dict(metrics=[dict(name="1bad")]), "not a Prometheus metric name"),
    (dict(metrics=[dict(name="m", samples=[dict(labels={"__x": "1"}, value=1)])]), "not a Prometheus label name"),
    (dict(metrics=[dict(name="m", samples=[dict(labels={"a-b": "1"}, value=1)])]), "not a Prometheus label name"),
    (dict(metrics=[dict(name="m", samples=[dict(value="soon")])]), "is not a number"),
    (dict(metrics=[dict(name="m", samples=[dict(labels={"a": 1})])]), "has no value"),
    (dict(metrics=[dict(name="m"), dict(name="m")]), "given twice"),
])
def test_bad_metrics_are_refused_and_nothing_is_written(run_module, tmp_path, unchanged, args, words):
    args = dict(dict(path=str(tmp_path / "wise_mtls.prom")), **args)
    with unchanged(tmp_path):
        result = run_module(prometheus_textfile, args)
    assert result["rc"] == 1 and words in result["msg"], result["msg"]
