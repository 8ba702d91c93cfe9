"""``shoal notifications test``: send a test message to every configured channel."""

from __future__ import annotations

import typer

from shoal.cli.output import command_group, print_rows
from shoal.cli.state import state
from shoal.errors import ValidationError
from shoal.notify.records import Level, Notification
from shoal.wiring import build_notifier

app = command_group("Notifications of failed runs and jobs (webhook, email).")


@app.command("test")
def test(ctx: typer.Context) -> None:
    """Send a test notification through every configured channel; exit 1 if one failed."""
    dispatcher = build_notifier(state(ctx).settings())
    if dispatcher is None:
        raise ValidationError(
            "no notifier is configured: set SHOAL_NOTIFY_WEBHOOK_URL and/or "
            "SHOAL_NOTIFY_EMAIL_TO with SHOAL_SMTP_HOST"
        )
    deliveries = dispatcher.send(
        Notification(
            title="test notification from shoal",
            text="If you can read this, Shoal can tell you when a run or a job fails.",
            level=Level.SUCCESS,
        )
    )
    rows = [
        [d.channel, "delivered" if d.delivered else "FAILED", d.attempts, d.error or ""]
        for d in deliveries
    ]
    print_rows("Notifications", ["channel", "result", "attempts", "error"], rows)
    if not all(d.delivered for d in deliveries):
        raise typer.Exit(1)
