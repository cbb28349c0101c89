"""Residents and Party members (居民与党员): the register, its protected personal data, and
Party members showing their identity (亮明身份) per building and grid."""

from grid.residents import models  # noqa: F401  (registers the tables on Base.metadata)
