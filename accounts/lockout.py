"""django-axes with a separate limit per lockout parameter: an account locks after AXES_FAILURE_LIMIT failures,
an address after the higher AXES_IP_FAILURE_LIMIT.

django-axes keeps the counters (AccessAttempt rows per account, address and browser), the cool-off, the reset
utilities and the signals; it compares one number with one limit for every parameter in
AXES_LOCKOUT_PARAMETERS, so ten people of one office, mistyping once each behind its one address, locked the
address for everyone. Its own extension point for this is the handler (AXES_HANDLER): this one answers, to the
library's single comparison, whether any parameter reached its own limit. A lockout callable would only shape
the response, and a callable failure limit cannot tell which parameter it is asked about.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


def parameter_limit(parameter: str | list[str], account_limit: int) -> int:
    """The limit of one lockout parameter: the address alone has its own, anything naming the account the
    account's."""
    if parameter == "ip_address" or parameter == ["ip_address"]:
        return int(settings.AXES_IP_FAILURE_LIMIT)
    return account_limit


class SeparateLimitsHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """The account's failures, or the account limit itself once any parameter reached its own limit (the
        library locks when this number reaches AXES_FAILURE_LIMIT)."""
        limit = get_failure_limit(request, credentials)
        parameters = get_lockout_parameters(request, credentials)
        worst = 0
        for parameter, attempts in zip(parameters, self.get_user_attempts(request, credentials), strict=True):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            if failures >= parameter_limit(parameter, limit):
                return limit
            worst = max(worst, min(failures, limit - 1))
        return worst
