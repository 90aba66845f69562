"""Three dispatcher processes on two "hosts" against the simulated gateway: together they never
exceed the queue's rate (no second with more queries, no 429), drain the backlog earliest first
and store each answer; kill -9 of one mid-queue loses nothing and still keeps the rate."""
import signal
import time

import pytest

from basic.cron_runtime import conf
from basic.cron_runtime.models import QueueRateWindow, TimedTask, TimedTaskStatus
from tests.cron_runtime.helpers import wait_for
from tests.gateway_queue.helpers import (
    busiest_second,
    busiest_sliding_second,
    dispatcher_env,
    finish,
    gateway_arrivals,
    make_queue_tasks,
    start_dispatcher,
    too_many,
    fresh_gateway_window,
    warm_gateway,
)

pytestmark = pytest.mark.django_db(transaction=True)
HOSTS = ("host-a", "host-a", "host-b")


@pytest.mark.parametrize("rate", [2, 10])
def test_three_dispatchers_on_two_hosts_stay_within_the_rate_and_drain_earliest_first(
        rate, live_server, settings, subprocess_env, manage_py, monkeypatch):
    settings.GATEWAY_QPS = rate  # the simulator, served by live_server in this process, says 429 above it
    warm_gateway(live_server)
    fresh_gateway_window(monkeypatch)
    seconds = 60  # a minute of it, as a provider counts it, not a burst
    total = rate * seconds * 2  # more than they can do: the queue never runs dry, the rate is the limit
    make_queue_tasks(total)
    procs = [start_dispatcher(manage_py, dispatcher_env(subprocess_env, live_server, rate=rate, host=host),
                              "--for", str(seconds)) for host in HOSTS]
    for proc in procs:
        finish(proc)
    arrivals = gateway_arrivals()
    assert too_many(arrivals) == 0
    assert busiest_second(arrivals) <= rate
    assert busiest_sliding_second(arrivals) <= rate
    # Draining, not idling: at least 80 % of the rate over the time all three were up (start-up excluded).
    span = (arrivals[-1][0] - arrivals[0][0]).total_seconds()
    assert span >= seconds / 2 and len(arrivals) >= 0.8 * rate * span, (len(arrivals), span)
    done = TimedTask.objects.filter(status=TimedTaskStatus.DONE)
    assert done.count() == len(arrivals)
    # Earliest first across all three: what ran is exactly the earliest tasks.
    assert sorted(done.values_list("args", flat=True)) == [[n] for n in range(done.count())]
    # Each answer is stored with its task, for a page to poll.
    assert all(result == {"n": args[0], "paid": False} for args, result in done.values_list("args", "result"))
    assert set(done.values_list("host", flat=True)) == {"host-a", "host-b"}
    assert not TimedTask.objects.filter(status=TimedTaskStatus.FAILED).exists()


def test_a_dispatcher_killed_mid_queue_loses_nothing_and_the_rate_still_holds(
        live_server, settings, subprocess_env, manage_py, monkeypatch):
    rate, lease = 5, 10
    settings.GATEWAY_QPS = rate
    warm_gateway(live_server)
    fresh_gateway_window(monkeypatch)
    total = 70  # 14 s of work at 5/s; the survivors run long enough to outlive the victim's lease
    make_queue_tasks(total)
    envs = [dispatcher_env(subprocess_env, live_server, rate=rate, host=host) for host in HOSTS]
    victim = start_dispatcher(manage_py, envs[0], "--for", "40", "--lease", str(lease))
    try:
        wait_for(lambda: TimedTask.objects.filter(status=TimedTaskStatus.DONE).count() >= 8, 60,
                 "the first dispatcher to drain some of the queue")
        survivors = [start_dispatcher(manage_py, env, "--for", "28", "--lease", str(lease)) for env in envs[1:]]
        time.sleep(2)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    for proc in survivors:
        finish(proc)
    arrivals = gateway_arrivals()
    assert too_many(arrivals) == 0 and busiest_sliding_second(arrivals) <= rate
    assert TimedTask.objects.filter(status=TimedTaskStatus.DONE).count() == total  # none lost
    # At least once: a task the victim held when it died ran again after its lease, nothing more.
    assert total <= len(arrivals) <= total + 1


def test_with_redis_holding_the_limiter_three_dispatchers_stay_within_the_rate(
        live_server, settings, subprocess_env, manage_py, monkeypatch):
    import redis

    # The test run's own Redis database (the one its Celery tests use; OMS_TEST_REDIS_DB picks it).
    url = conf.CELERY_BROKER_URL
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {url}")
    client.delete("oms:timed-task-queue:gateway")
    rate, seconds = 5, 12
    settings.GATEWAY_QPS = rate
    warm_gateway(live_server)
    fresh_gateway_window(monkeypatch)
    make_queue_tasks(rate * seconds * 2)
    procs = [start_dispatcher(manage_py, dispatcher_env(subprocess_env, live_server, rate=rate, host=host,
                                                        TIMED_TASK_RATE_LIMITER_URL=url), "--for", str(seconds))
             for host in HOSTS]
    for proc in procs:
        finish(proc)
    client.delete("oms:timed-task-queue:gateway")
    arrivals = gateway_arrivals()
    assert too_many(arrivals) == 0 and busiest_sliding_second(arrivals) <= rate
    span = (arrivals[-1][0] - arrivals[0][0]).total_seconds()
    assert len(arrivals) >= 0.8 * rate * span, (len(arrivals), span)
    assert not TimedTask.objects.filter(queue="gateway", status=TimedTaskStatus.FAILED).exists()
    assert QueueRateWindow.objects.count() == 0  # Redis held it, not the database
