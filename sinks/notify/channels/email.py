"""Email over SMTP (stdlib smtplib in a worker thread): STARTTLS or implicit TLS, LOGIN/PLAIN auth,
multipart/alternative with a plain-text and an HTML part. 4xx SMTP replies and connection problems are
retried; 5xx (bad login, refused recipients) are not."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr

from sinks.notify.channels.base import Channel, ChannelConfig, DeliveryError, Prepared
from sinks.notify.render import MessageContext, fit_chars


def _format_addr(value: str) -> str:
    name, addr = parseaddr(value)
    return formataddr((name, addr)) if name else addr


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """smtplib encodes credentials as ASCII; a Chinese password goes as UTF-8 AUTH PLAIN (RFC 4616)."""
    if (username + password).isascii():
        smtp.login(username, password)
        return
    import base64

    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    code, resp = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


class EmailConfig(ChannelConfig):
    """Email over SMTP: ``security`` starttls (port 587), ssl (465) or none (local relays only)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    env_fields = ("password", "username")

    type: Literal["email"]
    host: str
    port: int | None = Field(default=None, ge=1, le=65535, description="Default: 587 starttls, 465 ssl, 25 none.")
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from", description="From address, e.g. 聆听告警 <alerts@example.com>.")
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, description="CA bundle for a private SMTP server certificate.")
    subject_prefix: str = "[聆听]"

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class EmailChannel(Channel[EmailConfig]):
    type = "email"
    config_class = EmailConfig

    def payload(self, ctx: MessageContext) -> Prepared:
        title = self.renderer.render("title.txt.j2", ctx)
        subject = fit_chars(f"{self.config.subject_prefix} {title}".strip(), 200)
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = _format_addr(self.config.sender)
        msg["To"] = ", ".join(_format_addr(a) for a in self.config.to)
        if self.config.cc:
            msg["Cc"] = ", ".join(_format_addr(a) for a in self.config.cc)
        domain = parseaddr(self.config.sender)[1].partition("@")[2] or "lingting.local"
        msg["Message-ID"] = make_msgid(domain=domain)
        msg["X-Lingting-Delivery"] = ctx.delivery_key
        msg["X-Lingting-Alert"] = ctx.alert.id
        msg.set_content(self.renderer.render("email.txt.j2", ctx), charset="utf-8")
        msg.add_alternative(self.renderer.render("email.html.j2", ctx, title=title), subtype="html", charset="utf-8")
        return Prepared(msg)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        if not self.config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _send_sync(self, msg: EmailMessage, timeout: float) -> int:
        """Send ``msg``; the number of recipients the server accepted."""
        c = self.config
        host, port = c.host, c.effective_port
        if c.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._tls_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        try:
            smtp.ehlo()
            if c.security == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if c.username:
                _login(smtp, c.username, c.password.get_secret_value() if c.password else "")
            recipients = [parseaddr(a)[1] for a in [*c.to, *c.cc]]
            refused = smtp.send_message(msg, to_addrs=recipients)
            return len(recipients) - len(refused)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    async def send(self, prepared: Prepared, *, delivery_key: str, timeout: float) -> str:
        where = f"email {self.name} ({self.config.host}:{self.config.effective_port})"
        try:
            accepted = await asyncio.to_thread(self._send_sync, prepared.body, timeout)
        except smtplib.SMTPAuthenticationError as err:
            raise DeliveryError(
                f"{where}: login refused ({err.smtp_code}); check username/password",
                retryable=False,
                status=err.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError as err:
            raise DeliveryError(
                f"{where}: {err} (check security: starttls|ssl and whether the server wants a login)", retryable=False
            ) from None
        except smtplib.SMTPRecipientsRefused as err:
            raise DeliveryError(f"{where}: recipients refused: {', '.join(err.recipients)}", retryable=False) from None
        except smtplib.SMTPResponseException as err:
            text = err.smtp_error.decode(errors="replace") if isinstance(err.smtp_error, bytes) else err.smtp_error
            raise DeliveryError(
                f"{where}: server said {err.smtp_code} {text[:200]}",
                retryable=400 <= err.smtp_code < 500,
                status=err.smtp_code,
            ) from None
        except ssl.SSLCertVerificationError as err:
            raise DeliveryError(
                f"{where}: TLS certificate not trusted ({err.verify_message}); set ca_file", retryable=False
            ) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as err:
            raise DeliveryError(self.redact(f"{where}: {type(err).__name__}: {err}")) from None
        return f"accepted by {self.config.host} for {accepted} recipient{'s' if accepted != 1 else ''}"
