"""Each sender against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from agent.report.commit_status import repository_from_url
from agent.report.delivery import Delivery
from agent.report.errors import PermanentError, RetryableError
from agent.report.model import ChangeReport
from agent.report.senders import build_sender
from agent.report.slack import SlackSender
from agent.report.webhook import WebhookSender, verify
from tests.agent.receivers import Receiver, free_port, sample_report

SECRET = "s3cret-hmac-key"
SHA = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def delivery(status: str = "partial", run_id: int = 7) -> Delivery:
    report = ChangeReport.from_dict(sample_report(run_id=run_id, status=status))
    return Delivery(id=f"hook-1-{run_id}", body=report.to_json().encode(), report=report)


def spec(type_: str, url: str, secret: str | None = None, timeout: float = 5.0
         ) -> SimpleNamespace:
    return SimpleNamespace(type=type_, url=url, secret=secret, timeout=timeout)


def test_webhook_body_is_the_report_and_the_receiver_verifies_the_hmac(receiver: Receiver
                                                                       ) -> None:
    d = delivery()
    build_sender(spec("webhook", receiver.url + "/reports", SECRET)).send(d)
    [got] = receiver.received()
    assert got.path == "/reports"
    assert got.body == d.body
    assert ChangeReport.from_json(got.body) == d.report
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Pullinfra-Signature"] == f"sha256={expected}"
    assert verify(SECRET, got.body, got.headers["X-Pullinfra-Signature"])
    assert not verify("other-key", got.body, got.headers["X-Pullinfra-Signature"])
    assert got.headers["X-Pullinfra-Delivery"] == "hook-1-7"
    assert got.headers["Content-Type"] == "application/json"
    assert SECRET not in json.dumps(got.headers) + got.body.decode()


def test_slack_message_has_the_summary_and_the_failed_hosts(receiver: Receiver) -> None:
    SlackSender(receiver.url + "/services/T0/B0/xyz").send(delivery("partial"))
    [got] = receiver.received()
    text = got.json()["text"]
    first, *rest = text.splitlines()
    assert "*web* partial at `3f2a9c1d`" in first
    assert "hosts 3 total, 1 changed, 1 unchanged, 1 failed, 0 unreachable" in first
    assert "operations 2 changed, 5 unchanged, 0 skipped, 1 failed" in first
    assert rest == ["• `web3` failed: deploy.py:12: apt.packages failed: "
                    "E: Unable to locate package nginxx"]


def test_github_status_path_headers_and_body(receiver: Receiver) -> None:
    sender = build_sender(spec("github-status", receiver.url + "/repos/acme/infra", "ghp_TOKEN"))
    sender.send(delivery("failed"))
    sender.send(delivery("drift_corrected"))
    failed, ok = receiver.received()
    assert failed.path == f"/repos/acme/infra/statuses/{SHA}"
    assert failed.headers["Authorization"] == "Bearer ghp_TOKEN"
    assert failed.headers["Accept"] == "application/vnd.github+json"
    body = failed.json()
    assert body["state"] == "failure"
    assert body["context"] == "pullinfra/web"
    assert body["description"].startswith("failed: 1 changed, 1 unchanged, 1 failed")
    assert len(body["description"]) <= 140
    assert ok.json()["state"] == "success"


def test_github_status_takes_the_repository_from_the_source_url(receiver: Receiver) -> None:
    sender = build_sender(spec("github-status", receiver.url, "t"),
                          source_url="git@github.com:acme/infra.git")
    sender.send(delivery("changed"))
    assert receiver.received()[0].path == f"/repos/acme/infra/statuses/{SHA}"


def test_gitlab_status_path_headers_and_body(receiver: Receiver) -> None:
    sender = build_sender(spec("gitlab-status", receiver.url + "/api/v4/projects/group%2Finfra",
                               "glpat-TOKEN"))
    sender.send(delivery("failed"))
    sender.send(delivery("changed"))
    failed, ok = receiver.received()
    assert failed.path == f"/api/v4/projects/group%2Finfra/statuses/{SHA}"
    assert failed.headers["Private-Token"] == "glpat-TOKEN"
    assert "Authorization" not in failed.headers
    assert failed.json() == {"state": "failed", "name": "pullinfra/web",
                             "description": failed.json()["description"]}
    assert ok.json()["state"] == "success"


@pytest.mark.parametrize("status, kind", [
    (500, RetryableError), (503, RetryableError), (429, RetryableError), (408, RetryableError),
    (400, PermanentError), (401, PermanentError), (404, PermanentError), (422, PermanentError),
    (302, PermanentError),
])
def test_http_statuses_map_to_typed_errors(receiver: Receiver, status: int, kind: type) -> None:
    receiver.status = status
    receiver.headers = {"Location": "http://127.0.0.1:1/elsewhere"} if status == 302 else {}
    with pytest.raises(kind) as info:
        WebhookSender(receiver.url + "/hook", SECRET).send(delivery())
    assert info.value.status == status
    assert len(receiver.received()) == 1  # redirects are not followed


def test_retry_after_is_passed_on(receiver: Receiver) -> None:
    receiver.status, receiver.headers = 429, {"Retry-After": "42"}
    with pytest.raises(RetryableError) as info:
        WebhookSender(receiver.url).send(delivery())
    assert info.value.retry_after == 42.0


def test_a_receiver_that_is_down_is_retryable_and_the_url_secret_stays_out() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/SLACKSECRETPATH"
    with pytest.raises(RetryableError) as info:
        SlackSender(url).send(delivery())
    assert "127.0.0.1" in str(info.value)
    assert "SLACKSECRETPATH" not in str(info.value)
    assert "SLACKSECRETPATH" not in repr(SlackSender(url))


def test_a_receiver_slower_than_the_timeout_is_retryable(receiver: Receiver) -> None:
    receiver.delay = 2.0
    with pytest.raises(RetryableError, match="timed out"):
        WebhookSender(receiver.url, timeout=0.3).send(delivery())


def test_repository_from_url() -> None:
    assert repository_from_url("https://github.com/acme/infra.git") == "acme/infra"
    assert repository_from_url("ssh://git@github.com/acme/infra") == "acme/infra"
    assert repository_from_url("git@github.com:acme/infra.git") == "acme/infra"
    with pytest.raises(ValueError):
        repository_from_url("infra")


def test_status_senders_need_a_token() -> None:
    with pytest.raises(ValueError, match="secret"):
        build_sender(spec("github-status", "https://api.github.com/repos/a/b"))
