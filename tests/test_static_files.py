"""The vendored chart library is a real static file: found by staticfiles, copied by collectstatic,
served by the test server (what runserver does too)."""
from __future__ import annotations

import urllib.request

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

ECHARTS = "vendor/echarts/echarts.common.min.js"


def test_the_chart_files_are_found_with_their_licence():
    for name in (ECHARTS, "vendor/echarts/LICENSE", "vendor/echarts/NOTICE", "charts.js"):
        assert finders.find(name), name
    assert "Apache License" in open(finders.find("vendor/echarts/LICENSE"), encoding="utf-8").read()


def test_collectstatic_copies_them(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (tmp_path / "static" / ECHARTS).stat().st_size > 100_000
    assert (tmp_path / "static" / "charts.js").is_file()
    assert (tmp_path / "static" / "admin" / "css" / "base.css").is_file()  # Django's own still there


@pytest.mark.django_db
def test_the_live_server_serves_them(live_server):
    with urllib.request.urlopen(f"{live_server.url}/static/{ECHARTS}", timeout=30) as response:
        assert response.status == 200
        assert b"echarts" in response.read(4096).lower()
