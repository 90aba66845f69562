"""The staff's pause and resume buttons on a job page: reason, who/when/until shown, CSRF enforced."""
import pytest
from django.test import Client

from basic.cron_runtime.models import JobPause

pytestmark = pytest.mark.django_db


def test_pause_and_resume_buttons_record_who_why_until_and_need_the_csrf_token(staff_user, staff_cronjobs):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    page = client.get("/staff/cron/flaky/")
    assert 'id="pause-form"' in page.content.decode()
    forged = client.post("/staff/cron/flaky/pause/", {"reason": "template wrong"})
    assert forged.status_code == 403 and not JobPause.objects.exists()  # no token: refused

    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else client.cookies["csrftoken"].value
    done = client.post("/staff/cron/flaky/pause/", {"reason": "template wrong", "until": "2099-01-01 08:00",
                                                    "csrfmiddlewaretoken": token}, follow=True)
    html = done.content.decode()
    assert "已暂停" in html and "ops 于" in html and "原因：template wrong" in html and "2099-01-01 08:00" in html
    assert "暂停期间的时刻不补跑" in html and 'id="run-paused-warning"' in html
    pause = JobPause.objects.get(job="flaky")
    assert pause.paused and pause.paused_by == "ops"
    assert "flag-paused" in client.get("/staff/").content.decode()  # the dashboard shows 已暂停

    empty = client.post("/staff/cron/flaky/pause/", {"reason": " ", "csrfmiddlewaretoken": token}, follow=True)
    assert "没有暂停" in empty.content.decode()
    resumed = client.post("/staff/cron/flaky/resume/", {"csrfmiddlewaretoken": token}, follow=True)
    assert "已恢复" in resumed.content.decode()
    pause.refresh_from_db()
    assert not pause.paused and pause.resumed_by == "ops"


def test_admin_lists_the_pauses_read_only(client, django_user_model, staff_cronjobs):
    from basic.cron_runtime.scheduling.pausing import job_pause
    from basic.cron_runtime.scheduling.registry import job_by_name

    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    job_pause(job=job_by_name("flaky"), by="ops", reason="template wrong")
    listing = client.get("/admin/cron_runtime/jobpause/")
    assert listing.status_code == 200 and "template wrong" in listing.content.decode()
    assert client.get("/admin/cron_runtime/jobpause/add/").status_code == 403


def test_the_heartbeat_page_offers_no_pause(staff_user, staff_cronjobs, client):
    """The heartbeat is the scheduler's proof of life: its page has Run now but no pause form."""
    client.force_login(staff_user)
    html = client.get("/staff/cron/heartbeat/").content.decode()
    assert 'id="run-now"' in html and 'id="pause-form"' not in html
