"""The exceptions timrest raises: one class per kind of the code table (design §3).

Catch :class:`TimError` for everything, or a subclass for what you can act on. Where a builtin
fits, a class also inherits it, so generic handlers work: bad settings and arguments are
``ValueError``, network trouble is ``ConnectionError``, a timeout is also ``TimeoutError``.

Every instance carries:

- ``code``: the TIM ``ErrorCode`` (int), or None when the server gave none;
- ``info``: the server's ``ErrorInfo`` or the client's own description;
- ``random``: the ``random`` of the last attempt (quote it to Tencent support), None if nothing was sent;
- ``attempts``: requests sent (0 when the error came before sending);
- ``retryable``: whether the same call may succeed later;
- ``http_status``: the HTTP status when it was not 200 (transport errors);
- ``kind``: the stable snake_case name of the kind (``"group_not_found"``);
- ``elapsed``: seconds spent on the call, or None.

Instances pickle and unpickle with all of these. No message ever contains the secret key or a UserSig.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "TimError",
    "ConfigError",
    "InvalidArgumentError",
    "TransportError",
    "RequestTimeoutError",
    "ProtocolError",
    "LimiterError",
    "ApiError",
    "ServerError",
    "RateLimitedError",
    "AuthError",
    "UserSigExpiredError",
    "PermissionDeniedError",
    "InvalidRequestError",
    "InvalidCommandError",
    "InvalidParameterError",
    "GroupNotFoundError",
    "InvalidGroupIdError",
]


class TimError(Exception):
    """Base class of every timrest error."""

    #: The kind's stable name when an instance is made without one.
    default_kind = "api"
    #: Whether this class of failure may succeed if tried again (instances say it per error).
    default_retryable = False

    code: Optional[int]
    info: str
    random: Optional[int]
    attempts: int
    retryable: bool
    http_status: Optional[int]
    kind: str
    elapsed: Optional[float]

    def __init__(
        self,
        message: str = "",
        *,
        code: Optional[int] = None,
        info: Optional[str] = None,
        random: Optional[int] = None,
        attempts: int = 0,
        retryable: Optional[bool] = None,
        http_status: Optional[int] = None,
        kind: Optional[str] = None,
        elapsed: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.info = message if info is None else info
        self.random = random
        self.attempts = attempts
        self.retryable = type(self).default_retryable if retryable is None else retryable
        self.http_status = http_status
        self.kind = type(self).default_kind if kind is None else kind
        self.elapsed = elapsed

    @property
    def message(self) -> str:
        """The whole message, as ``str(error)`` shows it."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # (class, constructor args, state): unpickling calls cls(message), then restores every attribute.
        return (type(self), (self.message,), dict(self.__dict__))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, random={self.random!r}, "
            f"attempts={self.attempts!r})"
        )


class ConfigError(TimError, ValueError):
    """Bad client settings (missing key, bad URL, absurd timeout …). Nothing was sent."""

    default_kind = "config"


class InvalidArgumentError(TimError, ValueError):
    """A bad argument (empty ID, control characters, too long …), caught before sending."""

    default_kind = "invalid_argument"


class TransportError(TimError, ConnectionError):
    """Connect, TLS, reset, or an HTTP status other than 200 (see ``http_status``). Retried."""

    default_kind = "transport"
    default_retryable = True


class RequestTimeoutError(TransportError, TimeoutError):
    """An attempt or the overall deadline ran out. Retried while the deadline allows."""

    default_kind = "timeout"
    default_retryable = True


class ProtocolError(TimError):
    """HTTP 200 with a body that is not the TIM envelope."""

    default_kind = "protocol"


class LimiterError(TimError):
    """The shared rate limiter (Redis, ``rate_limit_url``) refused the client (a wrong password,
    a forbidden command), or did not answer while ``rate_limit_fallback="fail"``. Nothing was sent."""

    default_kind = "limiter"


class ApiError(TimError):
    """The server answered a nonzero ``ErrorCode``; this class itself is for codes outside every other class."""

    default_kind = "api"


class ServerError(ApiError):
    """Server-side trouble (10002, 60008, 70169, 70202, 70500, 130014). Retried with backoff."""

    default_kind = "server"
    default_retryable = True


class RateLimitedError(ApiError):
    """Over a frequency limit (60007, 60011, 60018, 60019, 70050). Retried with a longer backoff."""

    default_kind = "rate_limited"
    default_retryable = True


class AuthError(ApiError):
    """Wrong credentials: SDKAppID, identifier, UserSig or key. Not retried."""

    default_kind = "auth"


class UserSigExpiredError(AuthError):
    """The UserSig expired or was invalidated (70001, 70052). Retried once after re-signing, with a key."""

    default_kind = "usersig_expired"
    default_retryable = True


class PermissionDeniedError(ApiError):
    """The operator may not do this (not an App admin, IP not allowed, the sender is muted: 10017 …)."""

    default_kind = "permission_denied"


class InvalidRequestError(ApiError):
    """Fix the request: the parent of :class:`InvalidCommandError` and :class:`InvalidParameterError`
    (not a kind of its own: it is never raised itself)."""


class InvalidCommandError(InvalidRequestError):
    """The command word or resource in the URL is wrong (10003, 60009)."""

    default_kind = "invalid_command"


class InvalidParameterError(InvalidRequestError):
    """A parameter of the request is wrong, or names an account that does not exist; ``info`` says which."""

    default_kind = "invalid_parameter"


class GroupNotFoundError(ApiError):
    """The group does not exist, or was dissolved (10010)."""

    default_kind = "group_not_found"


class InvalidGroupIdError(ApiError):
    """The group ID is malformed (10015)."""

    default_kind = "invalid_group_id"
