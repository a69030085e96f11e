"""Typed application keys (no string keys in app state)."""

from __future__ import annotations

from aiohttp import web

from gateway.delivery import DeliveryWorker
from gateway.metrics import Metrics
from gateway.services import Services
from gateway.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
METRICS = web.AppKey("metrics", Metrics)
DELIVERY = web.AppKey("delivery", DeliveryWorker)

REQUEST_ID = web.RequestKey("request_id", str)
OPENAPI = web.AppKey("openapi", bytes)  # the serialised OpenAPI document, built once
