"""Alert delivery commands: ``lingting api``, ``lingting notify test``, ``lingting notify render``."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.options import HostOpt, LogLevelOpt, PortOpt, config_option

ConfigOpt = config_option("notify: channels, routes; api: token")

notify_app = typer.Typer(help="Alert channels: send a test alert, preview messages.", no_args_is_help=True)


def api(
    config: Path | None = ConfigOpt,
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    loglevel: str = LogLevelOpt,
) -> None:
    """Serve the acknowledge API (acknowledge / assign / resolve alerts; chat buttons link here)."""
    from pipeline import cli
    from pipeline.api import run_api
    from schemas.errors import ConfigError

    settings = cli.start(config, loglevel)
    if not settings.api.token:
        raise ConfigError("api.token is not set: set LINGTING_API_TOKEN (or api.token) before exposing the API")
    typer.echo(
        f"lingting api on http://{host or settings.api.host}:{port or settings.api.port} "
        f"(alerts in {settings.elasticsearch.alerts_alias}); OpenAPI at /openapi.json",
        err=True,
    )
    run_api(settings, host, port)


@notify_app.command("test")
def notify_test(
    config: Path | None = ConfigOpt,
    channel: str | None = typer.Option(None, "--channel", help="Only this channel (by name)."),
    severity: str = typer.Option("critical", help="Severity of the sample alert."),
    language: str | None = typer.Option(None, "--lang", help="zh | en (default: config)."),
) -> None:
    """Send a sample crisis to each configured channel once (no routing, no retries, no delivery log) and
    print what each service answered. Exit 1 when a channel failed."""
    import asyncio

    from pipeline.settings import load_settings
    from schemas.errors import ConfigError

    settings = load_settings(config)
    channels = settings.notify.all_channels()
    if channel:
        channels = [c for c in channels if c.name == channel]
        if not channels:
            names = ", ".join(c.name for c in settings.notify.all_channels()) or "none"
            raise ConfigError(f"no enabled channel named {channel!r} (configured: {names})")
    if not channels:
        raise ConfigError("no channels configured under notify: (channels: or webhooks:)")
    results = asyncio.run(_send_samples(settings, channels, severity, language))
    failed = 0
    for name, ok, answer in results:
        if ok:
            typer.secho(f"ok      {name}: {answer}", fg=typer.colors.GREEN)
        else:
            failed += 1
            typer.secho(f"FAILED  {name}: {answer}", fg=typer.colors.RED)
    raise typer.Exit(1 if failed else 0)


async def _send_samples(settings, channels, severity: str, language: str | None) -> list[tuple[str, bool, str]]:
    """(channel, sent?, the service's answer or why it failed) for each channel."""
    import httpx

    from sinks.notify.channels import DeliveryError, build_channel
    from sinks.notify.dispatcher import Notifier
    from sinks.notify.render import MessageContext, Renderer, build_links
    from sinks.notify.sample import sample_alert

    notifier = Notifier.from_settings(settings)
    renderer = Renderer(settings.notify.templates_dir)
    alert = sample_alert(severity=severity)
    # its own key, so a receiver that deduplicates by key never confuses the sample with a real alert
    key = f"{alert.delivery_key}:test"
    out: list[tuple[str, bool, str]] = []
    async with httpx.AsyncClient() as http:
        for cfg in channels:
            ch = build_channel(cfg, renderer, http)
            lang = language or cfg.language or notifier.language
            ctx = MessageContext(
                alert,
                language=lang,
                delivery_key=key,
                links=build_links(
                    alert, signer=notifier.signer, kibana_url=notifier.kibana_url, posts_alias=notifier.posts_alias
                ),
            )
            policy = cfg.retry or settings.notify.retry
            try:
                out.append((cfg.name, True, await ch.send(ch.payload(ctx), delivery_key=key, timeout=policy.timeout)))
            except DeliveryError as err:
                out.append((cfg.name, False, str(err)))
    return out


@notify_app.command("render")
def notify_render(
    channel: str = typer.Option(
        ...,
        "--channel",
        help="A channel name from the config, or a type: webhook, dingtalk, wecom, feishu, slack, email.",
    ),
    config: Path | None = ConfigOpt,
    language: str = typer.Option("zh", "--lang", help="zh | en"),
    severity: str = typer.Option("critical", help="low | medium | high | critical"),
    status: str = typer.Option("open", help="open | update | resolved"),
    escalated: bool = typer.Option(False, help="Render the escalation variant."),
    public_url: str = typer.Option(
        "https://lingting.example.com", help="Where the buttons point (when the config has none)."
    ),
    as_html: bool = typer.Option(False, "--html", help="Print an HTML preview of how the client shows it instead."),
) -> None:
    """Print the message a channel would send for a sample crisis (JSON body, or the mail's text + HTML)."""
    import json

    from pipeline.settings import load_settings, settings_from_dict
    from schemas.errors import ConfigError
    from sinks.notify.channels import CHANNEL_TYPES, build_channel
    from sinks.notify.config import NotifyConfig
    from sinks.notify.links import LinkSigner
    from sinks.notify.render import MessageContext, Renderer, build_links
    from sinks.notify.sample import example_channel, sample_alert

    settings = load_settings(config) if config else settings_from_dict({}, "defaults")
    cfg = next((c for c in settings.notify.all_channels(include_disabled=True) if c.name == channel), None)
    if cfg is None:
        if channel not in CHANNEL_TYPES:
            raise ConfigError(f"{channel!r} is neither a configured channel nor a type ({', '.join(CHANNEL_TYPES)})")
        cfg = NotifyConfig.model_validate({"channels": [example_channel(channel)]}).channels[0]
    secret = settings.notify.links.secret.get_secret_value() if settings.notify.links.secret else settings.api.token
    signer = LinkSigner(settings.api.public_url or public_url, secret or "preview-only", settings.notify.links.ttl)
    alert = sample_alert(severity=severity, status=status, sequence=0 if status == "open" else 2)
    ctx = MessageContext(
        alert,
        language=language,
        escalated=escalated,
        links=build_links(
            alert,
            signer=signer,
            kibana_url=settings.elasticsearch.kibana_url,
            posts_alias=settings.elasticsearch.posts_alias,
        ),
        max_sample_posts=settings.notify.max_sample_posts,
    )
    ch = build_channel(cfg, Renderer(settings.notify.templates_dir), None)
    prepared = ch.payload(ctx)
    if as_html:
        from sinks.notify.preview import preview_html

        typer.echo(preview_html(cfg.type, prepared))
    elif cfg.type == "email":
        typer.echo(prepared.body.get_body(("plain",)).get_content())
        typer.echo("-----8<----- text/html -----8<-----")
        typer.echo(prepared.body.get_body(("html",)).get_content())
    else:
        typer.echo(json.dumps(prepared.body, ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
    app.command("api")(api)
    app.add_typer(notify_app, name="notify")
