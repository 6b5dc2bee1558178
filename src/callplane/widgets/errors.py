from __future__ import annotations

from callplane.errors import NotFound, UnprocessableRequest


class WidgetNotFound(NotFound):
    code = "widget_not_found"
    default_detail = "Web widget not found."


class VersionNotPublishedForWidget(UnprocessableRequest):
    code = "version_not_published"
    default_detail = "agent_version_id must be a published version of the widget's agent."
