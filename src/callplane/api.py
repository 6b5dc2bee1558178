"""Mounts every domain router; auth errors are documented on every authenticated route."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from callplane.agent_config.endpoints import router as agent_config_router
from callplane.agents.endpoints import router as agents_router
from callplane.conversations.endpoints import router as conversations_router
from callplane.errors import Forbidden, Unauthorized, merge_responses
from callplane.knowledge.endpoints import router as knowledge_router
from callplane.ops.endpoints import router as ops_router
from callplane.organizations.endpoints import router as admin_router
from callplane.phone_numbers.endpoints import router as phone_numbers_router
from callplane.publishing.endpoints import router as publishing_router
from callplane.scaffolding.endpoints import router as scaffolding_router
from callplane.sip.endpoints import router as sip_router
from callplane.versions.comparison import router as comparison_router
from callplane.versions.endpoints import router as versions_router
from callplane.widgets.endpoints import public_router as public_widgets_router
from callplane.widgets.endpoints import router as widgets_router
from callplane.workflows.endpoints import router as workflows_router

AUTH_RESPONSES = merge_responses(Unauthorized, Forbidden)


def mount_routers(app: FastAPI) -> None:
    app.include_router(ops_router)
    app.include_router(public_widgets_router)
    for router in (
        admin_router,
        scaffolding_router,  # before agents_router: `create-demo` is not an `{agent_id}`
        agents_router,
        comparison_router,  # before versions_router: `/versions/diff` is not a `{version}`
        versions_router,
        publishing_router,
        sip_router,
        phone_numbers_router,
        widgets_router,
        conversations_router,
        agent_config_router,
        workflows_router,
        knowledge_router,
    ):
        for route in router.routes:
            if isinstance(route, APIRoute):
                route.responses = {**AUTH_RESPONSES, **route.responses}
            app.router.routes.append(route)
