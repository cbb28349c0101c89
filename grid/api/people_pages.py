"""Pages of the people in the loop (filled in below)."""

from fastapi import APIRouter

router = APIRouter(tags=["pages"])
