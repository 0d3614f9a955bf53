"""`escrow webhooks deliver` (issue 19): the worker posts due messages to a real loopback receiver."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner
from standardwebhooks.webhooks import Webhook

from escrow.bootstrap import build_components
from escrow.cli.main import cli
from escrow.config import Settings
from escrow.services import webhooks
from escrow.services.platforms import register_platform
from tests.http_receiver import http_receiver


def _instance_env(runner: CliRunner) -> dict[str, str]:
    return {k: v for k, v in (runner.env or {}).items() if v is not None}


def test_cli_webhooks_deliver_once_posts_due_messages(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["init"]).exit_code == 0
    components = build_components(Settings.from_env(_instance_env(runner)))
    now = datetime.now(UTC)
    with http_receiver() as receiver:
        with components.session_factory() as session:
            register_platform(
                session,
                platform_id="forum",
                name="Forum",
                contact="abuse@forum.example",
                redirect_uris=["https://forum.example/cb"],
                log=components.log,
                now=now,
            )
            webhooks.set_webhook_url(
                session,
                platform_id="forum",
                url=receiver.url,
                allow_loopback=True,
                log=components.log,
                now=now,
            )
            secret = webhooks.rotate_webhook_secret(
                session, platform_id="forum", keyring=components.keyring, log=components.log, now=now
            ).secret
            webhooks.enqueue_event(
                session, platform_id="forum", event_type="consent.withdrawn", data={"sub": "p"}, now=now
            )
            session.commit()
        components.engine.dispose()

        result = runner.invoke(cli, ["webhooks", "deliver", "--once"])

        (received,) = receiver.wait_for(1)
    assert result.exit_code == 0, result.output
    assert "1 delivered, 0 to retry, 0 failed" in result.output
    assert Webhook(secret).verify(received.body, received.headers)["data"] == {"sub": "p"}


def test_cli_webhooks_deliver_once_with_nothing_due(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["webhooks", "deliver", "--once"])

    assert result.exit_code == 0, result.output
    assert "0 delivered, 0 to retry, 0 failed" in result.output
