"""The Redis cache, degraded instead of broken when Redis is unreachable.

Django's RedisCache raises on a refused connection, and a page that only wanted a cached value then
answers 500. Nothing here keeps truth in the cache (sessions, lockout and limits live in the database),
so a failed read is a miss and a failed write is dropped, each logged once per call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("renergy.cache")

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _degrade(default: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def wrapper(self: ResilientRedisCache, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except _UNREACHABLE as error:
                logger.warning("cache: Redis unreachable during %s (%s); degraded", method.__name__, error)
                if method.__name__ in ("get", "get_or_set"):
                    return kwargs.get("default", args[1] if len(args) > 1 else None)
                return default() if callable(default) else default

        return wrapper

    return decorate


class ResilientRedisCache(RedisCache):
    """RedisCache whose every operation logs and degrades (a miss, a dropped write) when Redis is down."""

    get = _degrade(None)(RedisCache.get)
    set = _degrade(None)(RedisCache.set)
    add = _degrade(False)(RedisCache.add)
    touch = _degrade(False)(RedisCache.touch)
    delete = _degrade(False)(RedisCache.delete)
    get_many = _degrade(dict)(RedisCache.get_many)
    set_many = _degrade(list)(RedisCache.set_many)
    delete_many = _degrade(None)(RedisCache.delete_many)
    has_key = _degrade(False)(RedisCache.has_key)
    incr = _degrade(None)(RedisCache.incr)
    clear = _degrade(False)(RedisCache.clear)
